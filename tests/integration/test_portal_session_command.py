"""The portal session every replica reads, on a real PostgreSQL: saves are compare-and-set (a save based on
an older read never overwrites a newer session), and `filas-portal-session` — the console script, run as a
subprocess against the simulator with a real Chromium — logs in, saves and reports the session."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from waiting import wait_for

from filas_devtools.ports import free_port
from filas_simulators.portal import SESSION_COOKIE

SCRIPT = str(Path(sys.executable).parent / "filas-portal-session")
FRESH = {"cookies": [{"name": "s", "value": "fresh"}], "origins": []}
OLD = {"cookies": [{"name": "s", "value": "old"}], "origins": []}


@pytest.fixture
def store(configure, database_url):
    configure(FILAS_DATABASE_URL=database_url)
    from filas_portal import session_store

    return session_store


def test_of_two_saves_from_one_read_the_first_wins_and_the_stale_one_is_refused(store):
    store.save(OLD, store.NO_VERSION, saved_by="first")
    person, worker = store.load(), store.load()

    assert store.save(FRESH, person.version, saved_by="alice@ops (filas-portal-session login)") == 2
    with pytest.raises(store.StaleSession) as refused:
        store.save(OLD, worker.version, saved_by="worker w1:7")

    assert str(refused.value).startswith("session not saved: it was read at version 1, but version 2 was saved since")
    assert "by alice@ops (filas-portal-session login)" in str(refused.value)
    assert "a save never overwrites a newer session" in str(refused.value)
    kept = store.load()
    assert (kept.storage_state, kept.version, kept.saved_by) == (FRESH, 2, "alice@ops (filas-portal-session login)")


def test_concurrent_saves_from_one_version_write_exactly_one(store):
    store.save(OLD, store.NO_VERSION, saved_by="first")
    read = store.load()
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def save(n: int) -> None:
        barrier.wait()
        try:
            store.save({"cookies": [{"name": "s", "value": str(n)}], "origins": []}, read.version, saved_by=str(n))
            outcomes.append("saved")
        except store.StaleSession:
            outcomes.append("refused")

    threads = [threading.Thread(target=save, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["refused"] * 7 + ["saved"]
    kept = store.load()
    assert kept.version == 2 and kept.storage_state["cookies"][0]["value"] == kept.saved_by


def test_the_first_save_of_two_is_kept_when_nothing_was_saved_before(store):
    assert store.save(FRESH, store.NO_VERSION, saved_by="a") == 1
    with pytest.raises(store.StaleSession):
        store.save(OLD, store.NO_VERSION, saved_by="b")
    assert store.load().storage_state == FRESH


def test_a_booking_never_overwrites_a_session_saved_while_it_ran(store):
    from filas_portal import records

    store.save(OLD, store.NO_VERSION, saved_by="worker")
    loaded_by_booking = records.load_portal_session()
    store.save(FRESH, store.load().version, saved_by="alice (filas-portal-session headed)")

    records.keep_portal_session(loaded_by_booking, {"cookies": [{"name": "s", "value": "expired"}], "origins": []})

    assert store.load().storage_state == FRESH


# --- the command --------------------------------------------------------------------------------------


@pytest.fixture
def command_env(database_url, portal_sim, chromium_path) -> dict[str, str]:
    """The RQ guide's credential names, ATACADAO_USUARIO and ATACADAO_SENHA."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith(("FILAS_", "ATACADAO_", "DISPLAY",
                                                                         "WAYLAND_DISPLAY"))},
            "FILAS_DATABASE_URL": database_url, "FILAS_PORTAL_URL": portal_sim.url,
            "ATACADAO_USUARIO": portal_sim.username, "ATACADAO_SENHA": portal_sim.password,
            "FILAS_CHROMIUM_PATH": chromium_path}


def session_command(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SCRIPT, *args], check=False, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.chromium
def test_login_saves_a_working_session_and_status_reports_it(store, command_env, portal_sim):
    assert session_command(command_env, "status").returncode == 4  # nothing saved yet

    login = session_command(command_env, "login")

    assert login.returncode == 0, login.stderr
    assert "portal session saved: version 1" in login.stdout
    assert portal_sim.state()["logins"] == 1
    saved = store.load()
    assert "(filas-portal-session login)" in saved.saved_by
    assert portal_sim.password not in login.stdout + login.stderr
    status = session_command(command_env, "status")
    assert status.returncode == 0, status.stderr
    assert "version 1" in status.stdout and "the session works" in status.stdout
    assert portal_sim.state()["logins"] == 1  # status never logs in

    portal_sim.configure(expire_sessions=True)
    expired = session_command(command_env, "status")
    assert expired.returncode == 4 and "the session no longer works" in expired.stdout


@pytest.mark.chromium
def test_login_behind_a_captcha_fails_clearly_and_saves_nothing(store, command_env, portal_sim):
    portal_sim.configure(login_captcha=True)

    login = session_command(command_env, "login")

    assert login.returncode == 1
    assert "CAPTCHA" in login.stderr and portal_sim.state()["failed_logins"] == 0
    assert store.load().version == store.NO_VERSION


def test_headed_without_a_display_says_so(store, database_url):
    env = {**{k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")},
           "FILAS_DATABASE_URL": database_url}

    headed = session_command(env, "headed")

    assert headed.returncode == 2
    assert "no display" in headed.stderr and "use `login`" in headed.stderr


# --- headed: a person logs in in the browser the command opened -----------------------------------------


@pytest.mark.chromium
def test_headed_waits_until_a_person_has_logged_in_and_keeps_that_session(portal_sim, chromium_choice):
    """The command's browser is headed; here a headless one, with a "person" driving its page over CDP."""
    from playwright.sync_api import sync_playwright

    from filas_portal.browser import CHROMIUM_FLAGS
    from filas_portal.portal_client import AtacadaoPortal

    port = free_port()
    outcome: dict = {}

    def command_side() -> None:  # what `filas-portal-session headed` does, in a thread of its own
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_choice.executable_path,
                                                 args=[*CHROMIUM_FLAGS, f"--remote-debugging-port={port}"])
            portal = AtacadaoPortal(browser, portal_sim.url, username="", password="")
            portal.wait_for_person_to_log_in(timeout_ms=60_000)
            outcome["state"] = portal.storage_state()
            browser.close()

    command = threading.Thread(target=command_side)
    command.start()
    with sync_playwright() as playwright:
        browser = wait_for(lambda: _connect(playwright, port), 30, "the command's browser")
        page = wait_for(lambda: _login_page(browser), 30, "the login page open")
        page.fill("#usuario", portal_sim.username)
        page.fill("#senha", portal_sim.password)
        page.click("#entrar")
        command.join(60)
    assert not command.is_alive()
    assert any(cookie["name"] == SESSION_COOKIE for cookie in outcome["state"]["cookies"])
    assert portal_sim.state()["logins"] == 1


def _connect(playwright, port: int):
    try:
        return playwright.chromium.connect_over_cdp(f"http://127.0.0.1:{port}")
    except Exception:
        return None


def _login_page(browser):
    pages = [page for context in browser.contexts for page in context.pages]
    return next((page for page in pages if page.locator("#form-login").count()), None)
