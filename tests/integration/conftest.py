"""Fixtures for the portal client tests: the portal simulator on a free port, and a real headless Chromium.

Browser tests also carry the `chromium` marker (tests/conftest.py): skipped on a laptop without any
Chromium, a failure in CI.
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

from filas_portal.browser import (
    ChromiumChoice,
    launch_browser,
    resolve_chromium,
)
from filas_simulators.portal import create_app

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
