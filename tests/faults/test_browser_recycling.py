"""The portal worker's browsers: reused across bookings, recycled as configured, relaunched when killed.

One portal worker (1 process x 2 threads, each thread with its own Chromium) books against the portal
simulator. What a user notices: many bookings cost a few browser launches, not one each; a browser (or
Playwright's driver) killed under the worker costs a retry, not the worker; every load is booked once; and
the portal's images, fonts and analytics are never downloaded.
"""

import datetime as dt
import os
import signal
from collections import Counter

import httpx
import psutil
import pytest
from faultkit import FAST_RECOVERY, own_system, wait_for
from scraped_metrics import sample, scrape

pytestmark = [pytest.mark.chromium, pytest.mark.timeout(600)]

TOMORROW = (dt.date.today() + dt.timedelta(days=1)).isoformat()
BOOKINGS = 50
MAX_BOOKINGS_PER_BROWSER = 10
BROWSER_MARK = "--filas-browser="  # what the worker marks its browsers' command lines with


@pytest.fixture(scope="module")
def system(tmp_path_factory, chromium_path):
    env = FAST_RECOVERY | {"FILAS_PORTAL_BROWSER_MAX_BOOKINGS": str(MAX_BOOKINGS_PER_BROWSER),
                           "FILAS_PORTAL_BROWSER_MAX_MEMORY_MIB": "0"}
    with own_system(tmp_path_factory.mktemp("browser-recycling"), ["portal-sim", "api", "portal-worker"], env,
                    supervise=["portal-sim", "api"], chromium_path=chromium_path) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh(system):
    system.reset()


@pytest.fixture
def memory_limited(tmp_path_factory, chromium_path):
    """A second worker whose browsers are over their memory limit after any booking (1 MiB, measured each time)."""
    env = FAST_RECOVERY | {"FILAS_PORTAL_BROWSER_MAX_BOOKINGS": "0", "FILAS_PORTAL_BROWSER_MAX_MEMORY_MIB": "1",
                           "FILAS_PORTAL_BROWSER_MEMORY_CHECK_SECONDS": "0"}
    with own_system(tmp_path_factory.mktemp("browser-memory"), ["portal-sim", "api", "portal-worker"], env,
                    supervise=["portal-sim", "api"], chromium_path=chromium_path) as running:
        yield running


def post_bookings(system, prefix: str, count: int) -> list[str]:
    loads = [f"{prefix}-{n:03d}" for n in range(count)]
    for load in loads:
        reply = system.api.post("/portal/api/solicitar-agendamento-async", json={
            "lote_id": load, "data_agendamento": TOMORROW, "hora_agendamento": "10:00",
            "transportadora": "Agregado", "tipo_veiculo": "11"})
        assert reply.status_code == 202, reply.text
    return loads


def booked_on_portal(system) -> Counter:
    with system.sim("portal") as portal:
        return Counter(booking["lote"] for booking in portal.get("/_sim/bookings").json())


def wait_booked(system, loads: list[str], timeout: float = 400) -> Counter:
    return wait_for(lambda: (made := booked_on_portal(system)) and set(loads) <= set(made) and made,
                    f"{len(loads)} loads booked on the portal", timeout=timeout)


def worker_metrics(system) -> str:
    """The worker's metrics, once it serves them (it boots after the stack reports ready)."""
    return wait_for(lambda: _scrape_or_none(system.stack.config.portal_metrics_port), "the worker's metrics",
                    timeout=60)


def _scrape_or_none(port: int) -> str | None:
    try:
        return scrape(port)
    except httpx.TransportError:
        return None


def recycles(metrics: str, reason: str) -> float:
    return sample(metrics, "filas_portal_browser_recycles_total", reason=reason)


def worker_process(system) -> psutil.Process:
    return psutil.Process(system.stack.processes["portal-worker"].popen.pid)


def browsers(system) -> list[psutil.Process]:
    """The worker's Chromium browser processes (not their renderers and helpers)."""
    tree = worker_process(system).children(recursive=True)
    marked = [process for process in tree if any(arg.startswith(BROWSER_MARK) for arg in _cmdline(process))]
    marked_pids = {process.pid for process in marked}
    return [process for process in marked if process.ppid() not in marked_pids]


def drivers(system) -> list[psutil.Process]:
    """Playwright's node drivers under the worker."""
    return [process for process in worker_process(system).children(recursive=True)
            if os.path.basename(_exe(process)).startswith("node")]


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def _exe(process: psutil.Process) -> str:
    try:
        return process.exe()
    except psutil.Error:
        return ""


def test_fifty_bookings_reuse_browsers_and_recycle_them_as_configured(system):
    before = worker_metrics(system)
    launched_before = sample(before, "filas_portal_browser_launches_total")
    recycled_before = recycles(before, "bookings")
    worker_pid = worker_process(system).pid

    loads = post_bookings(system, "RECICLA", BOOKINGS)
    made = wait_booked(system, loads)

    assert {load: times for load, times in made.items() if times > 1} == {}, "a load booked twice"
    after = worker_metrics(system)
    launched = sample(after, "filas_portal_browser_launches_total") - launched_before
    recycled = recycles(after, "bookings") - recycled_before
    # Two threads share the 50 bookings; each closes its browser after every 10th.
    assert recycled >= BOOKINGS // MAX_BOOKINGS_PER_BROWSER - 1
    assert launched <= recycled + 2, "a browser was launched per booking instead of reused"
    assert recycles(after, "crashed") == recycles(before, "crashed")
    assert len(browsers(system)) <= 2, "closed browsers left running"
    assert worker_process(system).pid == worker_pid


def test_a_browser_over_its_memory_limit_is_replaced_after_its_booking(memory_limited):
    loads = post_bookings(memory_limited, "MEMORIA", 4)
    made = wait_booked(memory_limited, loads)

    assert made == Counter(dict.fromkeys(loads, 1))
    metrics = wait_for(lambda: (text := worker_metrics(memory_limited)) and recycles(text, "memory") == 4 and text,
                       "a memory recycle after each of the 4 bookings", timeout=60)
    assert sample(metrics, "filas_portal_browser_memory_bytes_count") == 4
    assert sample(metrics, "filas_portal_browser_launches_total") == 4
    assert recycles(metrics, "bookings") == recycles(metrics, "crashed") == 0
    assert len(browsers(memory_limited)) == 0, "a browser over its limit kept running"


def test_the_portal_pages_images_fonts_and_analytics_are_not_downloaded(system):
    loads = post_bookings(system, "LEVE", 3)
    wait_booked(system, loads)

    with system.sim("portal") as portal:
        assets = portal.get("/_sim/state").json()["assets"]
    assert assets["stylesheet"] > 0, "the pages were not loaded as a browser does"
    assert {kind: assets[kind] for kind in ("image", "font", "analytics")} == {"image": 0, "font": 0, "analytics": 0}


def test_a_browser_killed_mid_booking_is_relaunched_and_the_booking_completes(system):
    worker_pid = worker_process(system).pid
    crashed_before = recycles(worker_metrics(system), "crashed")
    with system.sim("portal") as portal:
        portal.post("/_sim/config", json={"delay_ms": 1500}).raise_for_status()  # every page takes 1.5 s
        [load] = post_bookings(system, "MORTO", 1)
        wait_for(lambda: browsers(system) and _portal_busy(portal), "a booking under way in a browser", timeout=120)
        for browser in browsers(system):
            browser.send_signal(signal.SIGKILL)
        portal.post("/_sim/config", json={"delay_ms": 0}).raise_for_status()

    made = wait_booked(system, [load])
    assert made[load] == 1
    assert recycles(worker_metrics(system), "crashed") > crashed_before
    assert worker_process(system).pid == worker_pid, "the worker itself died with its browser"


def test_a_killed_playwright_driver_is_restarted_without_restarting_the_worker(system):
    worker_pid = worker_process(system).pid
    wait_booked(system, post_bookings(system, "ANTES", 2))  # both threads' drivers up
    killed = drivers(system)
    assert killed, "no Playwright driver found under the worker"
    for driver in killed:
        driver.send_signal(signal.SIGKILL)
    wait_for(lambda: not any(driver.is_running() and driver.status() != psutil.STATUS_ZOMBIE for driver in killed),
             "the drivers gone", timeout=30)

    loads = post_bookings(system, "DEPOIS", 4)
    made = wait_booked(system, loads)

    assert all(made[load] == 1 for load in loads)
    assert worker_process(system).pid == worker_pid
    assert {driver.pid for driver in drivers(system)}.isdisjoint({driver.pid for driver in killed})


def _portal_busy(portal) -> bool:
    """The worker has reached the portal with its session (the page it waits for is being served)."""
    return portal.get("/_sim/state").json()["assets"]["stylesheet"] > 0


def test_playwrights_drivers_run_with_a_small_young_generation(system):
    wait_booked(system, post_bookings(system, "NODE", 2))

    environments = [driver.environ() for driver in drivers(system)]
    assert environments, "no Playwright driver found under the worker"
    assert {env.get("NODE_OPTIONS") for env in environments} == {"--max-semi-space-size=1"}
