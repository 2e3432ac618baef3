"""`filas-portal-session`: set up the portal session every worker replica reads (PostgreSQL).

    filas-portal-session login     log in headless with FILAS_PORTAL_USERNAME/PASSWORD (or ATACADAO_USUARIO/SENHA)
    filas-portal-session headed    open a visible browser; a person logs in (CAPTCHA), then the session is saved
    filas-portal-session status    when the session was saved, by whom, and whether the portal still accepts it

A save is compare-and-set: it names the version read before the browser opened, and is refused (exit 3)
if a newer session was saved meanwhile. Exit codes: 0 done, 1 the portal or the browser failed, 2 usage
or no display, 3 a newer session was saved meanwhile, 4 `status` found the session not working.
"""

import argparse
import getpass
import os
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from playwright.sync_api import Browser, sync_playwright

from filas.settings import get_settings
from filas_portal import session_store
from filas_portal.browser import CHROMIUM_FLAGS, ChromiumNotFound, launch_browser, resolve_chromium
from filas_portal.portal_client import AtacadaoPortal, PortalError

EXIT_FAILED, EXIT_USAGE, EXIT_STALE, EXIT_NOT_WORKING = 1, 2, 3, 4
HEADED_TIMEOUT_SECONDS = 600


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except (PortalError, ChromiumNotFound) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except session_store.StaleSession as stale:
        print(f"refused: {stale}", file=sys.stderr)
        return EXIT_STALE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="filas-portal-session", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(required=True, metavar="command")
    login = commands.add_parser("login", help="log in headless with the configured credentials and save")
    login.set_defaults(run=_login)
    headed = commands.add_parser("headed", help="a person logs in in a visible browser (CAPTCHA); then save")
    headed.add_argument("--timeout", type=int, default=HEADED_TIMEOUT_SECONDS,
                        help=f"seconds to wait for the person (default {HEADED_TIMEOUT_SECONDS})")
    headed.set_defaults(run=_headed)
    status = commands.add_parser("status", help="when saved, by whom, and whether the portal still accepts it")
    status.set_defaults(run=_status)
    return parser


def _login(args: argparse.Namespace) -> int:
    settings = get_settings()
    if not (settings.portal_username and settings.portal_password.get_secret_value()):
        print("error: no portal credentials: set FILAS_PORTAL_USERNAME and FILAS_PORTAL_PASSWORD "
              "(or ATACADAO_USUARIO and ATACADAO_SENHA)", file=sys.stderr)
        return EXIT_USAGE
    read = session_store.load()
    with _browser(headless=True) as browser:
        portal = _portal(browser, storage_state=None)  # a fresh login, whatever was saved
        portal.log_in()
    return _save(portal, read, "login")


def _headed(args: argparse.Namespace) -> int:
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        print("error: no display ($DISPLAY and $WAYLAND_DISPLAY are unset): `headed` opens a visible browser for a "
              "person. Run it on a machine with a desktop (or `ssh -X`), or use `login` where no CAPTCHA is asked.",
              file=sys.stderr)
        return EXIT_USAGE
    read = session_store.load()
    print(f"A browser window opens on {get_settings().portal_url}: log in (answer the CAPTCHA if asked). "
          f"Waiting up to {args.timeout} s for the booking form.", file=sys.stderr)
    with _browser(headless=False) as browser:
        portal = _portal(browser, storage_state=None)
        portal.wait_for_person_to_log_in(timeout_ms=args.timeout * 1000)
    return _save(portal, read, "headed")


def _status(args: argparse.Namespace) -> int:
    saved = session_store.load()
    if saved.storage_state is None:
        print("no portal session saved: run `filas-portal-session login` (or `headed`)")
        return EXIT_NOT_WORKING
    print(f"saved:   version {saved.version}, {saved.saved_at:%Y-%m-%d %H:%M:%S} UTC, "
          f"by {saved.saved_by or 'unknown'}")
    with _browser(headless=True) as browser:
        works = _portal(browser, storage_state=saved.storage_state).session_works()
    print(f"portal:  {'the session works' if works else 'the session no longer works: log in again'} "
          f"({get_settings().portal_url})")
    return 0 if works else EXIT_NOT_WORKING


def _save(portal: AtacadaoPortal, read: session_store.SavedSession, how: str) -> int:
    version = session_store.save(portal.storage_state(), read.version, saved_by=_who(how))
    print(f"portal session saved: version {version}; bookings failed for the session can now be reprocessed")
    return 0


def _who(how: str) -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # a container's uid without a passwd entry
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()} (filas-portal-session {how})"


def _portal(browser: Browser, storage_state: dict | None) -> AtacadaoPortal:
    settings = get_settings()
    return AtacadaoPortal(
        browser,
        base_url=settings.portal_url,
        username=settings.portal_username,
        password=settings.portal_password.get_secret_value(),
        storage_state=storage_state,
        timeout_ms=settings.portal_timeout_ms,
    )


@contextmanager
def _browser(headless: bool) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # A headed browser needs a full Chromium (a headless shell cannot open a window).
        choice = resolve_chromium(get_settings().chromium_path, playwright, headed=not headless)
        launch: Callable[[], Browser] = (
            (lambda: launch_browser(playwright, choice)) if headless
            else (lambda: playwright.chromium.launch(
                headless=False, executable_path=choice.executable_path, args=list(CHROMIUM_FLAGS)))
        )
        browser = launch()
        try:
            yield browser
        finally:
            browser.close()


if __name__ == "__main__":
    sys.exit(main())
