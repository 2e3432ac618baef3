"""Bookings per minute, CPU and memory of one portal-worker process (stack.py's: 1 process x 2 threads) with a
real headless Chromium (the one the worker picks: a headless shell first, see filas_portal.browser) against the
portal simulator, side by side with a bare Playwright script doing the same steps with the same Chromium
(bench/_bare_portal_booker.py: 2 threads, a fresh context per booking, the saved session) in the same run, on
the same simulator; then the worker's memory over a long run with recycling.

Starts Redis, PostgreSQL, the portal simulator, the API and the portal worker (stack.py). Two warm-up
bookings first (each worker thread launches its own Chromium and the first one logs in: the cold cost,
reported apart). Then the bare script books N loads (twice: as written, and blocking what the worker blocks),
then N bookings are posted through the API at once and followed through GET status-job until finished.
Per-booking durations of the worker come from the job state timestamps the API reports (iniciado_em,
finalizado_em); the bare script times each booking itself. Memory: the sum of PSS (/proc/<pid>/smaps_rollup)
over the whole process tree (for the worker: dramatiq main process, its worker process, Prometheus exporter,
Playwright's node driver and every Chromium process), sampled every 0.25 s. Last, --curve bookings more show
the worker's memory as its browsers are recycled (FILAS_PORTAL_BROWSER_MAX_BOOKINGS, default 100 per thread).

    .venv/bin/python bench/portal_throughput.py [--bookings 40] [--curve 200]
"""

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from _support import (
    Bench,
    MachineCpu,
    PssSampler,
    api_client,
    cpu_used,
    mib,
    percentile,
    process_kind,
    process_tree,
    pss_kib,
    run,
    table,
    tree_cpu_seconds,
    wait_for,
)
from prometheus_client.parser import text_string_to_metric_families

TOMORROW = (dt.date.today() + dt.timedelta(days=1)).isoformat()
WARM_UP = 2
FINAL = ("finished", "failed")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bookings", type=int, default=40, help="bookings in the measured batch (default 40)")
    parser.add_argument("--curve", type=int, default=200, help="bookings of the memory curve (default 200)")
    return parser.parse_args()


def post_bookings(api: httpx.Client, prefix: str, count: int) -> list[dict]:
    accepted = []
    for n in range(1, count + 1):
        body = {"lote_id": f"{prefix}-{n:03d}", "data_agendamento": TOMORROW, "hora_agendamento": "09:00",
                "transportadora": "Transportes Exemplo", "tipo_veiculo": "truck"}
        response = api.post("/portal/api/solicitar-agendamento-async", json=body)
        if response.status_code != 202:
            raise RuntimeError(f"booking {body['lote_id']} refused: {response.status_code} {response.text}")
        accepted.append(response.json())
    return accepted


def wait_finished(api: httpx.Client, accepted: list[dict], timeout: float) -> list[dict]:
    """Poll every job's status until all are final; the last status of each, in order."""
    last: dict[str, dict] = {}

    def all_final() -> bool:
        for item in accepted:
            job_id = item["job_id"]
            if last.get(job_id, {}).get("status") not in FINAL:
                last[job_id] = api.get(f"/portal/api/status-job/{job_id}").json()
        return all(body.get("status") in FINAL for body in last.values()) and len(last) == len(accepted)

    wait_for(all_final, timeout, f"{len(accepted)} bookings finishing", interval=0.25)
    return [last[item["job_id"]] for item in accepted]


def when(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def seconds(a: str, b: str) -> float:
    return (when(b) - when(a)).total_seconds()


def main(bench: Bench, args: argparse.Namespace) -> None:
    redis_url, database_url = bench.databases()
    config = bench.config(redis_url, database_url)
    print(f"chromium: {config.chromium_path or 'Playwright default'}", flush=True)
    stack = bench.start(["portal-sim", "api", "portal-worker"], config, migrate=True)
    worker_pid = stack.processes["portal-worker"].popen.pid
    api = bench.cleanup.enter_context(api_client(stack))
    sim = bench.cleanup.enter_context(httpx.Client(base_url=stack.portal_url, timeout=10))
    seen_pids: dict[int, str] = {}

    sampler = PssSampler(worker_pid)
    idle_kib, _ = sampler.sample()
    started = time.monotonic()
    warm = wait_finished(api, post_bookings(api, "AQUECE", WARM_UP), timeout=120)
    warm_wall = time.monotonic() - started
    launched_kib, launched = sampler.sample()

    bare = [run_bare_script(config, args.bookings, block=False), run_bare_script(config, args.bookings, block=True)]

    with sampler:
        cpu_before, machine = tree_cpu_seconds(worker_pid), MachineCpu()
        started = time.monotonic()
        accepted = post_bookings(api, "BENCH", args.bookings)
        posted = time.monotonic() - started
        done = wait_finished(api, accepted, timeout=60 + 5 * args.bookings)
        client_wall = time.monotonic() - started
        worker_cpu, machine_busy = cpu_used(cpu_before, tree_cpu_seconds(worker_pid)), machine.busy_percent()
        seen_pids |= {pid: "" for pid in process_tree(worker_pid)}
    curve = memory_curve(api, worker_pid, args.curve, seen_pids)
    metrics = scrape(config.portal_metrics_port)
    sim_state = sim.get("/_sim/state").json()
    made = sim.get("/_sim/bookings").json()

    # --- figures ---------------------------------------------------------------------------------
    finished = [body for body in done if body["status"] == "finished"]
    failed = [body for body in done if body["status"] != "finished"]
    first_created = min(when(b["criado_em"]) for b in done)
    server_wall = (max(when(b["finalizado_em"]) for b in done) - first_created).total_seconds()
    processing = [seconds(b["iniciado_em"], b["finalizado_em"]) for b in done if b["iniciado_em"]]
    waiting = [seconds(b["criado_em"], b["iniciado_em"]) for b in done if b["iniciado_em"]]
    warm_processing = [seconds(b["iniciado_em"], b["finalizado_em"]) for b in warm if b["iniciado_em"]]
    filas_per_booking_pss = sampler.peak_kib / 2

    table(
        f"Portal bookings: {args.bookings} loads, 2 threads, headless Chromium, the portal simulator; "
        "the bare Playwright script and Filas's portal worker in the same run",
        ["measure", "bare script", "bare + blocking", "Filas worker", "Filas / bare"],
        [
            ["bookings made / failed", *[f"{b.made} / {b.failed}" for b in bare],
             f"{len(finished)} / {len(failed)}", ""],
            ["throughput (bookings/min)", *[f"{b.per_minute:.0f}" for b in bare],
             f"{len(finished) / server_wall * 60:.0f}", ratio(len(finished) / server_wall * 60, bare[0].per_minute)],
            ["time per booking p50 (s)", *[f"{b.p50:.2f}" for b in bare], f"{percentile(processing, 50):.2f}",
             ratio(percentile(processing, 50), bare[0].p50)],
            ["time per booking p95 (s)", *[f"{percentile(b.durations, 95):.2f}" for b in bare],
             f"{percentile(processing, 95):.2f}", ""],
            ["CPU per booking, whole process tree (s)", *[f"{b.cpu_per_booking:.2f}" for b in bare],
             f"{worker_cpu['all'] / len(done):.2f}", ratio(worker_cpu["all"] / len(done), bare[0].cpu_per_booking)],
            ["peak PSS of the process tree (MiB)", *[mib(b.peak_kib) for b in bare], mib(sampler.peak_kib), ""],
            ["peak PSS per concurrent booking (MiB, / 2 threads)", *[mib(b.peak_kib / 2) for b in bare],
             mib(filas_per_booking_pss), ratio(filas_per_booking_pss, bare[0].peak_kib / 2)],
        ],
        left=[0],
        note=f"(Filas: posting all through the API {posted:.2f} s; first posted -> all seen finished "
        f"{client_wall:.1f} s "
        f"(client poll 0.25 s); machine CPU busy {machine_busy:.0f} % of {os.cpu_count()} vCPUs; "
        f"Filas / bare compares with the bare script as written; goals: time <= 1.1x, <= 300 MiB per booking)",
    )
    table(
        "Filas worker, per booking (seconds, from the job state timestamps)",
        ["", "n", "p50", "p95", "max"],
        [
            _row("processing (iniciado -> finalizado)", processing),
            _row("waiting in the queue (criado -> iniciado)", waiting),
            _row("cold warm-up bookings: processing (browser launch, login)", warm_processing),
        ],
        note=f"(warm-up: {WARM_UP} bookings, {warm_wall:.1f} s from posting to both finished; CPU by kind: "
        + ", ".join(f"{kind} {used / len(done):.2f} s" for kind, used in sorted(worker_cpu.items()) if kind != "all")
        + ")",
    )
    breakdown_rows = [[kind, count, mib(kib)] for kind, (count, kib) in sorted(sampler.peak_breakdown.items())]
    launched_rows = [[kind, count, mib(kib)] for kind, (count, kib) in sorted(launched.items())]
    table(
        f"portal-worker memory, PSS of the process tree (MiB), {sampler.samples} samples",
        ["moment / process kind", "processes", "PSS MiB"],
        [["idle, before any booking (no Chromium yet)", "", mib(idle_kib)],
         ["idle after warm-up (browsers launched)", "", mib(launched_kib)],
         *[["  " + row[0], *row[1:]] for row in launched_rows],
         ["PEAK while booking", "", mib(sampler.peak_kib)],
         *[["  " + row[0], *row[1:]] for row in breakdown_rows]],
    )
    table(
        f"portal-worker memory over {args.curve} more bookings (browsers recycled every "
        f"{os.environ.get('FILAS_PORTAL_BROWSER_MAX_BOOKINGS', '100 (default)')} bookings per thread)",
        ["bookings finished", "PSS MiB (tree)", "Chromium processes"],
        [[n, mib(kib), chromiums] for n, kib, chromiums in curve],
        note="(browsers recycled: " + ", ".join(
            f"{reason} {sample(metrics, 'filas_portal_browser_recycles_total', reason=reason):.0f}"
            for reason in ("bookings", "memory", "crashed"))
        + f"; launched {sample(metrics, 'filas_portal_browser_launches_total'):.0f})",
    )
    loads = {m["lote"] for m in made}
    print(f"\nbookings on the portal: {len(made)} for {len(loads)} loads "
          f"(each load booked once: {len(made) == len(loads)}); "
          f"assets fetched: {sim_state.get('assets')}")
    if failed:
        print("\nfailed bookings:", *[f"  {b['job_id']}: {b['resultado']}" for b in failed], sep="\n")
    stop_and_check(bench, stack, seen_pids)


@dataclass
class BareRun:
    durations: list[float]
    made: int
    failed: int
    wall: float
    cpu_per_booking: float
    peak_kib: int

    @property
    def per_minute(self) -> float:
        return self.made / self.wall * 60

    @property
    def p50(self) -> float:
        return percentile(self.durations, 50)


def run_bare_script(config, bookings: int, block: bool) -> BareRun:
    """The bare Playwright script, as a process of its own (its whole tree measured like the worker's)."""
    command = [sys.executable, str(Path(__file__).with_name("_bare_portal_booker.py")), config.portal_url,
               config.secrets.portal_username, config.secrets.portal_password, "--bookings", str(bookings),
               "--threads", "2", "--prefix", "BLOCK" if block else "BARE", *(["--block"] if block else []),
               "--chromium", config.chromium_path]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("the bare script did not start")
        sampler = PssSampler(process.pid)
        with sampler:
            cpu_before, started = tree_cpu_seconds(process.pid), time.monotonic()
            process.stdin.write("go\n")
            process.stdin.flush()
            result = json.loads(process.stdout.readline())
            wall = time.monotonic() - started
            cpu = cpu_used(cpu_before, tree_cpu_seconds(process.pid))["all"]
        process.stdin.write("close\n")
        process.stdin.close()
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    if process.returncode != 0:
        raise RuntimeError(f"the bare script failed with exit status {process.returncode}")
    return BareRun(result["durations"], len(result["protocols"]), bookings - len(result["protocols"]), wall,
                   cpu / bookings, sampler.peak_kib)


def memory_curve(api: httpx.Client, worker_pid: int, count: int, seen_pids: dict[int, str]) -> list[tuple]:
    """Post `count` bookings; the worker tree's PSS each time 10 % more of them have finished."""
    accepted = post_bookings(api, "CURVA", count)
    step = max(count // 10, 1)
    curve, finished = [], 0
    pending = [item["job_id"] for item in accepted]
    deadline = time.monotonic() + 60 + 5 * count
    while pending:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(pending)} of {count} bookings not finished")
        still = [job for job in pending if api.get(f"/portal/api/status-job/{job}").json().get("status") not in FINAL]
        finished += len(pending) - len(still)
        pending = still
        if not curve or finished - curve[-1][0] >= step or not pending:
            tree = process_tree(worker_pid)
            seen_pids |= {pid: "" for pid in tree}
            kib = sum(pss_kib(pid) or 0 for pid in tree)
            curve.append((finished, kib, sum(1 for pid in tree if process_kind(pid) == "chromium")))
        time.sleep(0.25)
    return curve


def scrape(port: int) -> str:
    return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text


def sample(metrics: str, name: str, **labels: str) -> float:
    return next((sample.value for family in text_string_to_metric_families(metrics) for sample in family.samples
                 if sample.name == name and sample.labels == labels), float("nan"))


def ratio(filas: float, bare: float) -> str:
    return f"{filas / bare:.2f}x" if bare else ""


def stop_and_check(bench: Bench, stack, seen_pids: dict[int, str]) -> None:
    """Does stopping the worker leave anything behind?"""
    for pid in seen_pids:
        seen_pids[pid] = _exe(pid)
    bench.stop(stack)
    time.sleep(1)
    survivors = [pid for pid, exe in seen_pids.items() if exe and _exe(pid) == exe]
    if survivors:
        print(f"\nWARNING: {len(survivors)} process(es) of the portal worker's tree outlived its stop: "
              + ", ".join(f"{pid} ({os.path.basename(seen_pids[pid])})" for pid in survivors) + "; killing them")
        for pid in survivors:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    else:
        print("\nstopping the portal worker left none of its processes (Chromium included) behind")


def _row(label: str, values: list[float]) -> list:
    return [label, len(values), f"{percentile(values, 50):.2f}", f"{percentile(values, 95):.2f}",
            f"{max(values, default=float('nan')):.2f}"]


def _exe(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


if __name__ == "__main__":
    arguments = parse_args()
    run(lambda bench: main(bench, arguments), "portal_throughput",
        time_limit=180 + 15 * arguments.bookings + 3 * arguments.curve)
