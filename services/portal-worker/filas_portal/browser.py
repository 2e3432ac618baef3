"""Which Chromium the portal worker drives, and how it is launched.

Playwright's pinned "Chrome for Testing" is preferred when it has been installed
(`playwright install chromium`); otherwise the distribution's Chromium (/usr/bin/chromium) works
headless just as well. Finding the browser never launches it.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from playwright.sync_api import Browser, Playwright, sync_playwright

from filas_portal.metrics import BROWSER_LAUNCHES

SYSTEM_CHROMIUM = "/usr/bin/chromium"

CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)

INSTALL_HINT = (
    "install one: `apt-get install chromium` (Debian/Ubuntu) or "
    "`playwright install --with-deps chromium` (Playwright's own build), "
    "or point FILAS_CHROMIUM_PATH at an existing Chromium executable"
)


class ChromiumNotFound(RuntimeError):
    """No usable Chromium executable; the message says what to install."""


@dataclass(frozen=True)
class ChromiumChoice:
    executable_path: str | None  # None: Playwright's own browser
    description: str


def resolve_chromium(
    configured_path: str = "",
    playwright: Playwright | None = None,
    system_chromium: str = SYSTEM_CHROMIUM,
) -> ChromiumChoice:
    """Pick the Chromium to launch: configured path, Playwright's own, then the system's.

    Pass a running `playwright` to avoid starting a short-lived Playwright driver for the lookup.
    """
    if configured_path:
        if not _is_executable(configured_path):
            raise ChromiumNotFound(
                f"Configured Chromium {configured_path!r} does not exist or is not executable; {INSTALL_HINT}"
            )
        return ChromiumChoice(configured_path, f"configured Chromium at {configured_path}")
    bundled = _playwright_chromium_path(playwright)
    if bundled and _is_executable(bundled):
        return ChromiumChoice(None, f"Playwright's own Chromium at {bundled}")
    if _is_executable(system_chromium):
        return ChromiumChoice(system_chromium, f"system Chromium at {system_chromium}")
    raise ChromiumNotFound(
        f"No Chromium found (Playwright's own is not installed, no {system_chromium}); {INSTALL_HINT}"
    )


def launch_browser(playwright: Playwright, choice: ChromiumChoice, extra_args: tuple[str, ...] = ()) -> Browser:
    BROWSER_LAUNCHES.inc()
    return playwright.chromium.launch(
        headless=True,
        executable_path=choice.executable_path,
        args=[*CHROMIUM_FLAGS, *extra_args],
    )


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _playwright_chromium_path(playwright: Playwright | None) -> str | None:
    if playwright is not None:
        return playwright.chromium.executable_path
    # The sync API refuses to start inside a running asyncio loop (or inside another sync_playwright
    # in the same thread); a thread of its own has neither.
    found: list[str] = []

    def probe() -> None:
        try:
            with sync_playwright() as pw:
                found.append(pw.chromium.executable_path)
        except Exception:
            pass

    thread = threading.Thread(target=probe, name="playwright-chromium-probe", daemon=True)
    thread.start()
    thread.join()
    return found[0] if found else None
