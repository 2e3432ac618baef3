"""One Chromium per worker thread, launched on first use and relaunched if it died.

Playwright's sync API binds its objects to the thread that started it, and Dramatiq runs each
message on one of a fixed set of long-lived worker threads: a thread-local browser is reused
across bookings without ever being shared between threads."""

import threading

from playwright.sync_api import Browser, Playwright, sync_playwright

from filas.settings import get_settings
from filas_portal.browser import launch_browser, resolve_chromium
from filas_portal.metrics import BROWSER_RECYCLES

_local = threading.local()


def thread_browser() -> Browser:
    browser: Browser | None = getattr(_local, "browser", None)
    if browser is not None and browser.is_connected():
        return browser
    if browser is not None:
        BROWSER_RECYCLES.inc()
    playwright = _thread_playwright()
    _local.browser = launch_browser(playwright, resolve_chromium(get_settings().chromium_path, playwright))
    return _local.browser


def _thread_playwright() -> Playwright:
    playwright: Playwright | None = getattr(_local, "playwright", None)
    if playwright is None:
        playwright = sync_playwright().start()
        _local.playwright = playwright
    return playwright
