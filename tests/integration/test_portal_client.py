"""The Playwright portal client against the portal simulator, in a real headless Chromium.

Also: the simulator's own behaviour (Flask test client, no browser) and Chromium resolution.
"""

from __future__ import annotations

import os
import re
import socket
import stat
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from filas.errors import PermanentJobError
from filas_portal.browser import (
    SYSTEM_CHROMIUM,
    SYSTEM_HEADLESS_SHELL,
    ChromiumNotFound,
    playwright_headless_shell,
    resolve_chromium,
)
from filas_portal.portal_client import (
    AtacadaoPortal,
    BookingRejected,
    BookingRequest,
    BookingResult,
    CaptchaRequired,
    LoginRejected,
    PortalPermanentError,
    PortalTransientError,
)
from filas_simulators.portal import SESSION_COOKIE, create_app

if TYPE_CHECKING:
    from conftest import PortalSim  # the fixture's type; tests/ is not a package

PROTOCOL_FORMAT = re.compile(r"AT-\d{8}-\d{6}")
NEXT_WEEK = date.today() + timedelta(days=7)


def booking(load: str, **overrides: Any) -> BookingRequest:
    fields: dict[str, Any] = {
        "lote_id": load,
        "data": NEXT_WEEK,
        "hora": "09:00",
        "transportadora": "Transportes Rápido Ltda",
        "tipo_veiculo": "carreta",
    }
    return BookingRequest(**{**fields, **overrides})


class Steps:
    """Records on_step calls the way the worker stores step logs."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, step: str, message: str) -> None:
        self.calls.append((step, message))

    @property
    def names(self) -> list[str]:
        return [step for step, _ in self.calls]


def portal_for(sim: PortalSim, browser: Browser, **kwargs: Any) -> AtacadaoPortal:
    kwargs.setdefault("username", sim.username)
    kwargs.setdefault("password", sim.password)
    kwargs.setdefault("timeout_ms", 10_000)
    return AtacadaoPortal(browser, sim.url, **kwargs)


# --- booking ------------------------------------------------------------------------------------


@pytest.mark.chromium
def test_booking_returns_the_protocol_the_portal_recorded(portal_sim: PortalSim, portal_browser: Browser) -> None:
    steps = Steps()
    result = portal_for(portal_sim, portal_browser, on_step=steps).book(booking("L-1001", tipo_veiculo="CARRETA"))

    assert result.already_existed is False
    assert PROTOCOL_FORMAT.fullmatch(result.protocolo)
    [recorded] = portal_sim.bookings()
    assert recorded["protocolo"] == result.protocolo
    fields = ("lote", "data", "hora", "transportadora", "transportadora_nome", "tipo_veiculo", "tipo_veiculo_nome")
    assert {k: recorded[k] for k in fields} == {
        "lote": "L-1001",
        "data": NEXT_WEEK.isoformat(),
        "hora": "09:00",
        "transportadora": "230",  # the portal's codes, chosen by name
        "transportadora_nome": "Transportes Rápido Ltda",
        "tipo_veiculo": "13",
        "tipo_veiculo_nome": "Carreta",
    }
    assert steps.names == ["busca", "login", "login", "formulario", "confirmacao"]


@pytest.mark.chromium
def test_booking_the_same_load_again_returns_the_existing_protocol(
    portal_sim: PortalSim, portal_browser: Browser
) -> None:
    first = portal_for(portal_sim, portal_browser).book(booking("L-2002"))
    # A redelivered job may land on another worker, without the first one's session.
    steps = Steps()
    again = portal_for(portal_sim, portal_browser, on_step=steps).book(booking("L-2002", hora="10:00"))

    assert again == BookingResult(protocolo=first.protocolo, already_existed=True)
    assert [b["protocolo"] for b in portal_sim.bookings()] == [first.protocolo]
    assert "formulario" not in steps.names


@pytest.mark.chromium
def test_a_first_attempt_goes_straight_to_the_form_without_searching(
    portal_sim: PortalSim, portal_browser: Browser
) -> None:
    steps = Steps()
    result = portal_for(portal_sim, portal_browser, on_step=steps).book(booking("L-2003", search_first=False))

    assert result.already_existed is False
    assert [b["lote"] for b in portal_sim.bookings()] == ["L-2003"]
    assert "busca" not in steps.names and steps.names[-1] == "confirmacao"


@pytest.mark.chromium
def test_another_load_with_a_similar_id_is_not_mistaken_for_this_one(
    portal_sim: PortalSim, portal_browser: Browser
) -> None:
    portal = portal_for(portal_sim, portal_browser)
    other = portal.book(booking("L-30031"))
    mine = portal.book(booking("L-3003"))

    assert mine.already_existed is False
    assert mine.protocolo != other.protocolo
    assert [b["lote"] for b in portal_sim.bookings()] == ["L-30031", "L-3003"]


@pytest.mark.chromium
def test_saved_session_is_reused_without_logging_in_again(portal_sim: PortalSim, portal_browser: Browser) -> None:
    first = portal_for(portal_sim, portal_browser)
    first.book(booking("L-4001"))
    steps = Steps()
    second = portal_for(portal_sim, portal_browser, storage_state=first.storage_state(), on_step=steps)
    second.book(booking("L-4002"))

    assert portal_sim.state()["logins"] == 1
    assert "login" not in steps.names
    assert [b["lote"] for b in portal_sim.bookings()] == ["L-4001", "L-4002"]
    assert any(cookie["name"] == SESSION_COOKIE for cookie in second.storage_state()["cookies"])


@pytest.mark.chromium
def test_expired_session_logs_in_again_and_books(portal_sim: PortalSim, portal_browser: Browser) -> None:
    first = portal_for(portal_sim, portal_browser)
    first.book(booking("L-5001"))
    portal_sim.configure(expire_sessions=True)
    steps = Steps()
    result = portal_for(portal_sim, portal_browser, storage_state=first.storage_state(), on_step=steps).book(
        booking("L-5002")
    )

    assert result.already_existed is False
    assert portal_sim.state()["logins"] == 2
    assert "login" in steps.names
    assert [b["protocolo"] for b in portal_sim.bookings()][-1] == result.protocolo


@pytest.mark.chromium
def test_step_messages_never_carry_the_password_or_the_session_cookie(
    portal_sim: PortalSim, portal_browser: Browser
) -> None:
    steps = Steps()
    portal = portal_for(portal_sim, portal_browser, on_step=steps)
    portal.book(booking("L-6001"))
    cookie = next(c["value"] for c in portal.storage_state()["cookies"] if c["name"] == SESSION_COOKIE)

    messages = " ".join(message for _, message in steps.calls)
    assert portal_sim.password not in messages
    assert cookie not in messages


# --- permanent failures -------------------------------------------------------------------------


@pytest.mark.chromium
def test_wrong_password_is_login_rejected(portal_sim: PortalSim, portal_browser: Browser) -> None:
    portal = portal_for(portal_sim, portal_browser, password="senha-errada")

    with pytest.raises(LoginRejected, match="Usuário ou senha inválidos") as raised:
        portal.book(booking("L-7001"))

    assert isinstance(raised.value, PermanentJobError)
    assert "senha-errada" not in str(raised.value)
    assert portal_sim.state()["failed_logins"] == 1
    assert portal_sim.bookings() == []


@pytest.mark.chromium
def test_captcha_for_the_load_raises_captcha_required_and_books_nothing(
    portal_sim: PortalSim, portal_browser: Browser
) -> None:
    portal_sim.configure(captcha_lotes=["L-8001"])

    with pytest.raises(CaptchaRequired, match="L-8001"):
        portal_for(portal_sim, portal_browser).book(booking("L-8001"))

    assert portal_sim.bookings() == []


@pytest.mark.chromium
def test_captcha_on_every_booking_page_raises_captcha_required(portal_sim: PortalSim, portal_browser: Browser) -> None:
    portal_sim.configure(captcha_all=True)

    with pytest.raises(CaptchaRequired):
        portal_for(portal_sim, portal_browser).book(booking("L-8002"))

    assert portal_sim.bookings() == []


@pytest.mark.chromium
def test_vehicle_the_portal_does_not_offer_is_booking_rejected(portal_sim: PortalSim, portal_browser: Browser) -> None:
    with pytest.raises(BookingRejected) as raised:
        portal_for(portal_sim, portal_browser).book(booking("L-9001", tipo_veiculo="foguete"))

    assert str(raised.value) == (
        "O portal não oferece tipo de veículo 'foguete'. Opções do portal: VUC, 3/4, Toco, Truck, Bitruck, Carreta, "
        "Carreta LS, Vanderléia, Bitrem, Rodotrem, Van."
    )
    assert portal_sim.bookings() == []


@pytest.mark.chromium
def test_date_in_the_past_is_booking_rejected_with_the_portals_message(
    portal_sim: PortalSim, portal_browser: Browser
) -> None:
    yesterday = date.today() - timedelta(days=1)

    with pytest.raises(BookingRejected) as raised:
        portal_for(portal_sim, portal_browser).book(booking("L-9002", data=yesterday))

    assert str(raised.value) == f"Data no passado: {yesterday:%d/%m/%Y}. Escolha hoje ou uma data futura."
    assert portal_sim.bookings() == []


@pytest.mark.chromium
def test_blank_carrier_is_booking_rejected_with_the_portals_message(
    portal_sim: PortalSim, portal_browser: Browser
) -> None:
    with pytest.raises(BookingRejected, match=r"^Informe a transportadora\.$"):
        portal_for(portal_sim, portal_browser).book(booking("L-9003", transportadora="  "))

    assert portal_sim.bookings() == []


# --- transient failures -------------------------------------------------------------------------


@pytest.mark.chromium
def test_portal_503_is_transient_and_a_retry_books(portal_sim: PortalSim, portal_browser: Browser) -> None:
    portal_sim.configure(fail_next=1)
    portal = portal_for(portal_sim, portal_browser)

    with pytest.raises(PortalTransientError, match="HTTP 503") as raised:
        portal.book(booking("L-1101"))
    assert not isinstance(raised.value, PortalPermanentError)
    assert portal_sim.bookings() == []

    assert portal.book(booking("L-1101")).already_existed is False
    assert len(portal_sim.bookings()) == 1


@pytest.mark.chromium
def test_slow_portal_is_a_transient_timeout(portal_sim: PortalSim, portal_browser: Browser) -> None:
    portal_sim.configure(delay_ms=3_000)

    with pytest.raises(PortalTransientError, match="não respondeu"):
        portal_for(portal_sim, portal_browser, timeout_ms=500).book(booking("L-1102"))


@pytest.mark.chromium
def test_connection_refused_is_transient(portal_browser: Browser) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    portal = AtacadaoPortal(portal_browser, f"http://127.0.0.1:{closed_port}", "u", "p", timeout_ms=5_000)

    with pytest.raises(PortalTransientError, match="ERR_CONNECTION_REFUSED"):
        portal.book(booking("L-1103"))


# --- the simulator itself (no browser) ------------------------------------------------------------


@pytest.fixture
def sim_client() -> Any:
    return create_app("u", "p").test_client()


def login(client: Any) -> None:
    assert client.post("/login", data={"usuario": "u", "senha": "p"}).status_code == 303


FORM = {"lote": "L-1", "data": NEXT_WEEK.isoformat(), "hora": "08:00", "transportadora": "101", "tipo_veiculo": "20"}


def test_simulator_books_the_same_load_twice_like_the_real_portal(sim_client: Any) -> None:
    login(sim_client)
    first = sim_client.post("/agendamentos/novo", data=FORM)
    second = sim_client.post("/agendamentos/novo", data=FORM)

    assert first.status_code == second.status_code == 303
    assert first.location != second.location
    assert [b["lote"] for b in sim_client.get("/_sim/bookings").json] == ["L-1", "L-1"]
    listing = sim_client.get("/agendamentos?lote=L-1").text
    assert listing.count('class="agendamento"') == 2


def test_simulator_sends_pages_behind_login_to_the_login_form(sim_client: Any) -> None:
    for path in ("/agendamentos/novo", "/agendamentos?lote=L-1"):
        response = sim_client.get(path)
        assert (response.status_code, response.location) == (302, "/login")


def test_simulator_fail_next_answers_503_then_recovers(sim_client: Any) -> None:
    sim_client.post("/_sim/config", json={"fail_next": 2})

    assert [sim_client.get("/login").status_code for _ in range(3)] == [503, 503, 200]


def test_simulator_config_rejects_unknown_or_malformed_fields(sim_client: Any) -> None:
    assert sim_client.post("/_sim/config", json={"captcha": True}).status_code == 400
    assert sim_client.post("/_sim/config", json={"fail_next": -1}).status_code == 400
    assert sim_client.post("/_sim/config", json={"delay_ms": 5}).json["delay_ms"] == 5


def test_simulator_reset_forgets_bookings_and_sessions(sim_client: Any) -> None:
    login(sim_client)
    sim_client.post("/agendamentos/novo", data=FORM)
    sim_client.post("/_sim/reset")

    assert sim_client.get("/_sim/bookings").json == []
    assert sim_client.get("/_sim/state").json["logins"] == 0
    assert sim_client.get("/agendamentos/novo").location == "/login?expirou=1"


def test_simulator_sessions_expire_after_their_ttl() -> None:
    client = create_app("u", "p", session_ttl_seconds=0).test_client()
    login(client)

    assert client.get("/agendamentos/novo").location == "/login?expirou=1"


def test_simulator_captcha_load_shows_the_challenge_and_books_nothing(sim_client: Any) -> None:
    sim_client.post("/_sim/config", json={"captcha_lotes": ["L-1"]})
    login(sim_client)
    response = sim_client.post("/agendamentos/novo", data=FORM)

    assert response.status_code == 200
    assert 'id="captcha"' in response.text
    assert sim_client.get("/_sim/bookings").json == []


# --- resolve_chromium ---------------------------------------------------------------------------
# Fake executables in tmp_path stand for the system's (passed as `system_chromiums`) and, under an empty
# PLAYWRIGHT_BROWSERS_PATH, for Playwright's own; nothing is launched.


def test_configured_chromium_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "chromium"

    with pytest.raises(ChromiumNotFound, match="apt-get install chromium-headless-shell") as raised:
        resolve_chromium(str(missing))
    assert str(missing) in str(raised.value)


def test_configured_chromium_is_used_as_is(tmp_path: Path) -> None:
    configured = make_executable(tmp_path / "my-chromium")

    assert resolve_chromium(str(configured)).executable_path == str(configured)
    assert resolve_chromium(str(configured), headed=True).executable_path == str(configured)


def test_a_configured_headless_shell_is_used_headless_and_refused_headed(tmp_path: Path) -> None:
    shell = make_executable(tmp_path / "chromium-headless-shell")

    choice = resolve_chromium(str(shell))
    assert choice.executable_path == str(shell)
    assert "headless shell" in choice.description
    with pytest.raises(ChromiumNotFound, match="cannot show a window") as raised:
        resolve_chromium(str(shell), headed=True)
    assert str(shell) in str(raised.value)
    assert "apt-get install chromium`" in str(raised.value) and "FILAS_CHROMIUM_PATH" in str(raised.value)


def test_a_configured_link_to_a_headless_shell_is_refused_headed(tmp_path: Path) -> None:
    link = tmp_path / "browser"  # as in the image built from Playwright's shell: a link named otherwise
    link.symlink_to(make_executable(tmp_path / "chrome-headless-shell-linux64" / "chrome-headless-shell"))

    with pytest.raises(ChromiumNotFound, match="cannot show a window"):
        resolve_chromium(str(link), headed=True)


def test_the_system_headless_shell_is_preferred_to_the_full_chromium(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "browsers"))  # Playwright's own: none
    shell, full = system_chromiums(tmp_path, shell=True, full=True)

    choice = resolve_chromium(system_chromiums=(shell, full))
    assert choice.executable_path == shell
    assert choice.description == f"system Chromium headless shell at {shell}"


def test_the_full_system_chromium_is_used_when_there_is_no_headless_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "browsers"))
    shell, full = system_chromiums(tmp_path, shell=False, full=True)

    choice = resolve_chromium(system_chromiums=(shell, full))
    assert choice.executable_path == full
    assert choice.description == f"system Chromium at {full}"


def test_a_headed_launch_skips_the_headless_shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "browsers"))
    shell, full = system_chromiums(tmp_path, shell=True, full=True)

    assert resolve_chromium(system_chromiums=(shell, full), headed=True).executable_path == full


def test_a_headed_launch_with_only_a_headless_shell_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "browsers"))
    shell, full = system_chromiums(tmp_path, shell=True, full=False)

    with pytest.raises(ChromiumNotFound, match="headed") as raised:
        resolve_chromium(system_chromiums=(shell, full), headed=True)
    assert "apt-get install chromium`" in str(raised.value)
    assert shell not in str(raised.value)  # it was not even a candidate


@pytest.mark.skipif(not os.access(SYSTEM_HEADLESS_SHELL, os.X_OK), reason=f"{SYSTEM_HEADLESS_SHELL} is not installed")
def test_the_debian_headless_shell_is_chosen_when_playwrights_own_is_not_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path))  # an empty browsers directory

    assert resolve_chromium().executable_path == SYSTEM_HEADLESS_SHELL


@pytest.mark.skipif(not os.access(SYSTEM_CHROMIUM, os.X_OK), reason=f"{SYSTEM_CHROMIUM} is not installed")
def test_the_debian_chromium_is_chosen_headed_when_playwrights_own_is_not_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path))

    assert resolve_chromium(headed=True).executable_path == SYSTEM_CHROMIUM


def test_playwrights_own_headless_shell_is_preferred_when_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "browsers"))
    own_shell = make_executable(
        playwright_headless_shell_dir() / "chrome-headless-shell-linux64" / "chrome-headless-shell"
    )
    shell, full = system_chromiums(tmp_path, shell=True, full=True)

    choice = resolve_chromium(system_chromiums=(shell, full))
    assert choice.executable_path is None  # Playwright launches its own shell itself
    assert choice.description == f"Playwright's own Chromium headless shell at {own_shell}"
    assert playwright_headless_shell() == str(own_shell)


def test_playwrights_own_chromium_is_preferred_for_a_headed_launch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "browsers"))
    own_chromium = make_executable(Path(playwright_chromium_path()))
    shell, full = system_chromiums(tmp_path, shell=True, full=True)

    choice = resolve_chromium(system_chromiums=(shell, full), headed=True)
    assert choice.executable_path is None
    assert choice.description == f"Playwright's own Chromium at {own_chromium}"


def test_playwrights_own_chromium_without_its_shell_comes_after_the_system_ones_headless(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Installed with `--no-shell`: headless, Playwright would look for its shell, so the path is named."""
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "browsers"))
    own_chromium = str(make_executable(Path(playwright_chromium_path())))
    shell, full = system_chromiums(tmp_path, shell=False, full=True)

    assert resolve_chromium(system_chromiums=(shell, full)).executable_path == full
    assert resolve_chromium(system_chromiums=(shell,)).executable_path == own_chromium
    assert playwright_headless_shell() is None


def test_no_chromium_at_all_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path))

    with pytest.raises(ChromiumNotFound) as raised:
        resolve_chromium(system_chromiums=(str(tmp_path / "no-chromium"),))
    assert "apt-get install chromium-headless-shell" in str(raised.value)
    assert "apt-get install chromium`" in str(raised.value)
    assert "playwright install --with-deps chromium" in str(raised.value)


def make_executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 1\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def system_chromiums(tmp_path: Path, *, shell: bool, full: bool) -> tuple[str, str]:
    """Stand-ins for /usr/bin/chromium-headless-shell and /usr/bin/chromium (made when asked for)."""
    paths = tmp_path / "usr-bin" / "chromium-headless-shell", tmp_path / "usr-bin" / "chromium"
    for path, wanted in zip(paths, (shell, full), strict=True):
        if wanted:
            make_executable(path)
    return str(paths[0]), str(paths[1])


def playwright_chromium_path() -> str:
    """Where Playwright looks for its own Chromium (its own thread: a browser test may hold this one)."""

    def ask() -> str:
        with sync_playwright() as playwright:
            return playwright.chromium.executable_path

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(ask).result()


def playwright_headless_shell_dir() -> Path:
    """Where `playwright install --only-shell chromium` would put Playwright's own headless shell (it says so)."""
    import subprocess
    import sys

    dry_run = subprocess.run(
        [sys.executable, "-m", "playwright", "install", "--dry-run", "--only-shell", "chromium"],
        check=True, capture_output=True, text=True,
    ).stdout
    found = re.search(r"Install location:\s*(\S*chromium_headless_shell-\d+)", dry_run)
    assert found, dry_run
    return Path(found.group(1))
