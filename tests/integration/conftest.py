"""Fixtures of the integration tests.

The portal client tests: the portal simulator on a free port, and a real headless Chromium. Browser tests also
carry the `chromium` marker (tests/conftest.py): skipped on a laptop without any Chromium, a failure in CI.

The gateway tests: `sim`, a client for the /_sim control routes of the module's own `simulator` fixture (a
gateway simulator served in a thread). The follow-up tests: `database`, PostgreSQL then the SQLite of
`make run`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, sync_playwright
from werkzeug.serving import make_server

from filas.db.migrate import upgrade
from filas_portal.browser import (
    ChromiumChoice,
    launch_browser,
    resolve_chromium,
)
from filas_simulators.portal import create_app
from filas_simulators.serving import LocalServer

SIM_USERNAME = "fornecedor.teste"
SIM_PASSWORD = "s3nha-do-simulador"


@dataclass(frozen=True)
class PortalSim:
    """A running portal simulator and its /_sim control endpoints."""

    url: str
    username: str
    password: str

    def state(self) -> dict[str, Any]:
        return self._get("/_sim/state")

    def bookings(self) -> list[dict[str, Any]]:
        return self._get("/_sim/bookings")

    def configure(self, **changes: Any) -> dict[str, Any]:
        response = httpx.post(f"{self.url}/_sim/config", json=changes)
        response.raise_for_status()
        return response.json()

    def _get(self, path: str) -> Any:
        response = httpx.get(self.url + path)
        response.raise_for_status()
        return response.json()


@pytest.fixture
def portal_sim() -> Iterator[PortalSim]:
    server = make_server("127.0.0.1", 0, create_app(SIM_USERNAME, SIM_PASSWORD), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="portal-sim", daemon=True)
    thread.start()
    try:
        yield PortalSim(f"http://127.0.0.1:{server.server_port}", SIM_USERNAME, SIM_PASSWORD)
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


@pytest.fixture(scope="module")
def chromium_choice(chromium_path: str) -> ChromiumChoice:
    """The Chromium the tests launch (the top-level `chromium_path` fixture fails in CI when none exists)."""
    return resolve_chromium(chromium_path)


# Module scope, not session: a live sync Playwright leaves an asyncio loop marked running in this
# thread, which would break unrelated tests that use asyncio.
@pytest.fixture(scope="module")
def portal_browser(chromium_choice: ChromiumChoice) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = launch_browser(playwright, chromium_choice)
        try:
            yield browser
        finally:
            browser.close()


# --- gateway simulators -----------------------------------------------------------------------


@pytest.fixture
def sim(simulator: LocalServer) -> Iterator[httpx.Client]:
    """A client for the simulator's /_sim control routes, on a freshly reset simulator (`simulator`: the test
    module's own fixture, the gateway simulator it serves in a thread)."""
    with httpx.Client(base_url=simulator.url, timeout=10) as client:
        client.post("/_sim/reset").raise_for_status()
        yield client


# --- PostgreSQL and SQLite --------------------------------------------------------------------


@pytest.fixture(params=["postgresql", "sqlite"])
def database(request: pytest.FixtureRequest, configure, tmp_path) -> Iterator[str]:
    """The test's database, set as FILAS_DATABASE_URL: the clean test PostgreSQL, then a fresh, migrated SQLite
    file (as `make run` uses). A module may define its own `database` instead."""
    if request.param == "postgresql":
        url = request.getfixturevalue("database_url")
        request.getfixturevalue("clean_database")
    else:
        url = f"sqlite:///{tmp_path / 'filas.db'}"
        upgrade(url)
    configure(FILAS_DATABASE_URL=url)
    yield url
