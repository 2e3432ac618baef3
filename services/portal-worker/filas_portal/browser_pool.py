"""One Chromium per worker thread, reused across bookings and recycled before it grows too big.

Playwright's sync API binds its objects to the thread that started it, and Dramatiq runs each
message on one of a fixed set of long-lived worker threads: a thread-local browser is reused
across bookings without ever being shared between threads (each booking opens its own context).

    with browser_for_booking() as browser:
        ...  # book with it

After the booking, the browser is closed when it has served `portal_browser_max_bookings` bookings or
its processes' memory (PSS, measured at most every `portal_browser_memory_check_seconds`) passed
`portal_browser_max_memory_mib`; the next booking launches a fresh one.
A browser that died (crashed, killed) is relaunched, and a Playwright driver that died is restarted: the
worker itself lives on.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psutil
from playwright.sync_api import Browser, Playwright, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from filas.settings import get_settings
from filas_portal.browser import launch_browser, resolve_chromium
from filas_portal.metrics import BROWSER_MEMORY, BROWSER_RECYCLES

logger = logging.getLogger(__name__)

# Chromium ignores switches it does not know: this one only lets us find this thread's browser process.
BROWSER_MARK = "--filas-browser="
MIB = 1024 * 1024


@dataclass
class _ThreadBrowser:
    browser: Browser
    mark: str
    bookings: int = 0
    pid: int | None = None  # the browser's main process, once found
    driver_pid: int | None = None  # Playwright's node driver: the browser's parent
    measured_at: float | None = None  # time.monotonic() of the last memory measure


_local = threading.local()


@contextlib.contextmanager
def browser_for_booking() -> Iterator[Browser]:
    current = _connected_browser() or _launch()
    died = False
    try:
        yield current.browser
    except BaseException as error:
        died = _caused_by_browser(error) and not _responds(current.browser)
        raise
    finally:
        current.bookings += 1
        reason = "crashed" if died else _recycle_reason(current)
        if reason:
            _close(current, reason)


def _connected_browser() -> _ThreadBrowser | None:
    current: _ThreadBrowser | None = getattr(_local, "current", None)
    if current is None:
        return None
    if current.browser.is_connected() and _driver_alive(current):
        return current
    _close(current, "crashed")
    return None


def _driver_alive(current: _ThreadBrowser) -> bool:
    """A driver that died leaves `is_connected()` true; its process tells (no round trip)."""
    if current.driver_pid is None:
        return True
    try:
        return psutil.Process(current.driver_pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _launch() -> _ThreadBrowser:
    mark = uuid.uuid4().hex
    try:
        browser = _start(_thread_playwright(), mark)
    except PlaywrightError:
        # The driver (Playwright's node process) itself may be gone: start a new one, once.
        logger.warning("Playwright's driver did not answer; starting a new one", exc_info=True)
        _stop_playwright()
        browser = _start(_thread_playwright(), mark)
    _local.current = current = _ThreadBrowser(browser, mark)
    with contextlib.suppress(psutil.Error):
        _browser_process(current)
    return current


def _start(playwright: Playwright, mark: str) -> Browser:
    settings = get_settings()
    return launch_browser(
        playwright, resolve_chromium(settings.chromium_path, playwright), extra_args=(BROWSER_MARK + mark,)
    )


def _caused_by_browser(error: BaseException | None) -> bool:
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, PlaywrightError):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def _responds(browser: Browser) -> bool:
    """Whether the browser, and Playwright's driver between us and it, still answer. A driver that died
    leaves `is_connected()` true: only a round trip tells."""
    try:
        browser.new_context().close()
    except PlaywrightError:
        return False
    return True


def _recycle_reason(current: _ThreadBrowser) -> str | None:
    settings = get_settings()
    if settings.portal_browser_max_bookings and current.bookings >= settings.portal_browser_max_bookings:
        return "bookings"
    check_every = settings.portal_browser_memory_check_seconds
    if settings.portal_browser_max_memory_mib and _memory_check_due(current, check_every):
        current.measured_at = time.monotonic()
        pss = _browser_pss(current)
        if pss is not None:
            BROWSER_MEMORY.observe(pss)
            if pss > settings.portal_browser_max_memory_mib * MIB:
                return "memory"
    return None


def _memory_check_due(current: _ThreadBrowser, every_seconds: float) -> bool:
    return current.measured_at is None or time.monotonic() - current.measured_at >= every_seconds


def _close(current: _ThreadBrowser, reason: str) -> None:
    if reason == "crashed":
        logger.warning("the worker thread's Chromium died after %s booking(s); the next one launches a new one",
                       current.bookings)
    else:
        logger.info("closing the worker thread's Chromium after %s booking(s) (%s)", current.bookings, reason)
    BROWSER_RECYCLES.labels(reason).inc()
    with contextlib.suppress(PlaywrightError):
        current.browser.close()
    _local.current = None


def _browser_pss(current: _ThreadBrowser) -> int | None:
    """PSS in bytes of this thread's Chromium: its browser process and every process under it."""
    try:
        root = _browser_process(current)
        if root is None:
            return None
        return sum(_pss(process) for process in (root, *root.children(recursive=True)))
    except psutil.Error:
        return None


def _browser_process(current: _ThreadBrowser) -> psutil.Process | None:
    if current.pid is not None:
        return psutil.Process(current.pid)
    wanted = BROWSER_MARK + current.mark
    marked = [process for process in psutil.Process().children(recursive=True) if wanted in _cmdline(process)]
    marked_pids = {process.pid for process in marked}
    root = next((process for process in marked if process.ppid() not in marked_pids), None)
    if root is not None:
        current.pid, current.driver_pid = root.pid, root.ppid()
    return root


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def _pss(process: psutil.Process) -> int:
    try:
        return process.memory_full_info().pss
    except psutil.Error:  # exited meanwhile
        return 0


def _thread_playwright() -> Playwright:
    playwright: Playwright | None = getattr(_local, "playwright", None)
    if playwright is None:
        playwright = sync_playwright().start()
        _local.playwright = playwright
    return playwright


def _stop_playwright() -> None:
    playwright: Playwright | None = getattr(_local, "playwright", None)
    _local.playwright = None
    if playwright is not None:
        with contextlib.suppress(Exception):  # a dead driver may fail to stop: it is gone either way
            playwright.stop()
