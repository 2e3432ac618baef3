"""An expired session the worker cannot renew (the portal's login asks for a CAPTCHA) stops bookings with the
session status and the metric the alert reads; once a person saves a new session with `filas-portal-session`,
a reprocessed booking succeeds — through every real part (API, Redis, PostgreSQL, Chromium, the simulator)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from scraped_metrics import sample, scrape
from test_booking_errors import SET_UP_SESSION, book, failed_for_good, seed_example
from test_booking_flow import finished

pytestmark = pytest.mark.chromium

SCRIPT = str(Path(sys.executable).parent / "filas-portal-session")


def session_command(stack, *args: str) -> subprocess.CompletedProcess:
    """The command as a person runs it, with the RQ guide's credential names."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("FILAS_")},
           "FILAS_DATABASE_URL": stack.config.database_url, "FILAS_PORTAL_URL": stack.portal_url,
           "FILAS_CHROMIUM_PATH": stack.config.chromium_path,
           "ATACADAO_USUARIO": stack.config.secrets.portal_username,
           "ATACADAO_SENHA": stack.config.secrets.portal_password}
    return subprocess.run([SCRIPT, *args], check=False, env=env, capture_output=True, text=True, timeout=120)


def test_bookings_resume_after_a_person_saves_a_new_session(api, stack, portal_sim, stack_database_url):
    portal_sim.post("/_sim/config", json={"login_captcha": True}).raise_for_status()

    stopped = book(api, seed_example(lote_id="LOTE-SESSAO-VOLTA"))

    assert failed_for_good(stopped, stack_database_url) == (
        f"A sessão do portal expirou e o portal pede CAPTCHA para entrar: {SET_UP_SESSION}.")
    assert sample(scrape(stack.config.portal_metrics_port), "filas_portal_session_valid") == 0

    # A person gets past the CAPTCHA (here: the portal stops asking for a moment) and saves the session.
    portal_sim.post("/_sim/config", json={"login_captcha": False}).raise_for_status()
    saved = session_command(stack, "login")
    assert saved.returncode == 0, saved.stderr
    portal_sim.post("/_sim/config", json={"login_captcha": True}).raise_for_status()  # no login for the worker

    again = api.post(f"/portal/api/reprocessar-integracao/{stopped['integracao']['id']}")
    assert again.status_code == 202, again.text
    resumed = api.wait_until(again.json()["status_url"], finished)

    assert resumed["status"] == "finished", resumed
    [made] = portal_sim.get("/_sim/bookings").json()
    assert made["lote"] == "LOTE-SESSAO-VOLTA" and resumed["integracao"]["protocolo"] == made["protocolo"]
    assert portal_sim.get("/_sim/state").json()["logins"] == 1  # the person's: the worker used the saved session
    assert sample(scrape(stack.config.portal_metrics_port), "filas_portal_session_valid") == 1
