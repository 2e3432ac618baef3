"""Which Chromium the portal worker drives, and how it is launched.

Headless launches (every booking) prefer a *headless shell*, Chromium's "old headless" build without the
windowing code: here about a third less memory per booking and bookings about 3x faster than with the full
Chromium; Playwright itself launches it for headless browsers since 1.49. In order:

1. the configured executable (FILAS_CHROMIUM_PATH), as is;
2. Playwright's own headless shell when installed (`playwright install chromium`): launched with no
   executable path, Playwright picks it itself;
3. Debian's headless shell (`apt-get install chromium-headless-shell`): the executable itself,
   /usr/lib/chromium/chromium-headless-shell, else /usr/bin/chromium-headless-shell;
4. Debian's full Chromium, /usr/bin/chromium (`apt-get install chromium`);
5. Playwright's own full Chromium, when it is installed without its headless shell (`--no-shell`).

A headed launch (`filas-portal-session headed`: a visible browser for a person) needs a full Chromium: a
headless shell cannot open a window. It takes the configured executable unless that is a headless shell (an
error), else Playwright's own Chromium, else /usr/bin/chromium. Finding the browser never launches it.
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import playwright as playwright_package
from playwright.sync_api import Browser, Playwright, sync_playwright

from filas_portal.metrics import BROWSER_LAUNCHES

# Debian's `chromium-headless-shell` package: the browser itself, and /usr/bin's script that runs it as its child
# (no exec, unlike /usr/bin/chromium's): launched through the script, the browser is not Playwright's child and
# killing "the browser" (its marked root process) kills the script only. The script is the fallback (in this
# service's image /usr/bin/chromium-headless-shell is a link to the executable instead).
SYSTEM_HEADLESS_SHELL = "/usr/lib/chromium/chromium-headless-shell"
SYSTEM_HEADLESS_SHELL_SCRIPT = "/usr/bin/chromium-headless-shell"
SYSTEM_CHROMIUM = "/usr/bin/chromium"
# In order of preference for headless launches.
SYSTEM_CHROMIUMS = (SYSTEM_HEADLESS_SHELL, SYSTEM_HEADLESS_SHELL_SCRIPT, SYSTEM_CHROMIUM)

CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Fewer processes per browser, less memory (bench/portal_throughput.py): no zygote to fork renderers from
    # (the sandbox it serves is off), the network service and the GPU process inside the browser process. The
    # in-process GPU without the software rasterizer: with it, in the image, screenshots (a failed booking's
    # evidence) hang.
    "--no-zygote",
    "--enable-features=NetworkServiceInProcess2",
    "--in-process-gpu",
    "--disable-software-rasterizer",
    "--disable-quic",
)

INSTALL_HINT = (
    "install one: `apt-get install chromium-headless-shell` for the workers' headless browser, `apt-get install "
    "chromium` for the headed session set-up (Debian/Ubuntu), or `playwright install --with-deps chromium` "
    "(Playwright's own builds, both), or point FILAS_CHROMIUM_PATH at an existing Chromium executable"
)
HEADED_HINT = (
    "a headed browser needs a full Chromium: `apt-get install chromium` (Debian/Ubuntu) or `playwright install "
    "--with-deps chromium`, and FILAS_CHROMIUM_PATH empty or pointing at it (e.g. /usr/bin/chromium)"
)

# Playwright's browsers directory holds chromium-<revision>/ and chromium_headless_shell-<revision>/.
_PLAYWRIGHT_CHROMIUM_DIR = re.compile(r"chromium-(\d+)")
_HEADLESS_SHELL_NAMES = ("chrome-headless-shell", "headless_shell", "chrome-headless-shell.exe", "headless_shell.exe")


class ChromiumNotFound(RuntimeError):
    """No usable Chromium executable; the message says what to install."""


@dataclass(frozen=True)
class ChromiumChoice:
    executable_path: str | None  # None: Playwright's own browser
    description: str


def resolve_chromium(
    configured_path: str = "",
    playwright: Playwright | None = None,
    system_chromiums: tuple[str, ...] = SYSTEM_CHROMIUMS,
    *,
    headed: bool = False,
) -> ChromiumChoice:
    """Pick the Chromium to launch (the module's docstring has the order); `headed`: for a visible window.

    `system_chromiums` are the distribution's executables, in order of preference (headless shells are
    skipped for a headed launch). Pass a running `playwright` to avoid starting a short-lived Playwright
    driver for the lookup.
    """
    if configured_path:
        return _configured(configured_path, headed)
    own_chromium = _playwright_chromium_path(playwright)
    if headed:
        if own_chromium and _is_executable(own_chromium):
            return ChromiumChoice(None, f"Playwright's own Chromium at {own_chromium}")
        candidates = [path for path in system_chromiums if not is_headless_shell(path)]
    else:
        own_shell = _headless_shell_beside(own_chromium) if own_chromium else None
        if own_shell:
            return ChromiumChoice(None, f"Playwright's own Chromium headless shell at {own_shell}")
        candidates = list(system_chromiums)
    for path in candidates:
        if _is_executable(path):
            kind = "Chromium headless shell" if is_headless_shell(path) else "Chromium"
            return ChromiumChoice(path, f"system {kind} at {path}")
    if not headed and own_chromium and _is_executable(own_chromium):
        # Installed without its headless shell (`--no-shell`): Playwright would look for the shell, so name it.
        return ChromiumChoice(own_chromium, f"Playwright's own Chromium at {own_chromium} (no headless shell)")
    looked_in = " or ".join(candidates) or "no system path"
    if headed:
        raise ChromiumNotFound(
            f"No Chromium for a headed browser found (Playwright's own is not installed, no {looked_in}); "
            f"{HEADED_HINT}"
        )
    raise ChromiumNotFound(f"No Chromium found (Playwright's own is not installed, no {looked_in}); {INSTALL_HINT}")


def is_headless_shell(path: str) -> bool:
    """Whether the executable is a Chromium headless shell (by its name, or the name of what it links to)."""
    names = {os.path.basename(path), os.path.basename(os.path.realpath(path))}
    return any("headless-shell" in name or "headless_shell" in name for name in names)


def launch_browser(playwright: Playwright, choice: ChromiumChoice, extra_args: tuple[str, ...] = ()) -> Browser:
    BROWSER_LAUNCHES.inc()
    return playwright.chromium.launch(
        headless=True,
        executable_path=choice.executable_path,
        args=[*CHROMIUM_FLAGS, *extra_args],
    )


def playwright_headless_shell(playwright: Playwright | None = None) -> str | None:
    """The executable of Playwright's own headless shell, if installed (what it launches headless by itself)."""
    own_chromium = _playwright_chromium_path(playwright)
    return _headless_shell_beside(own_chromium) if own_chromium else None


def _configured(path: str, headed: bool) -> ChromiumChoice:
    if not _is_executable(path):
        raise ChromiumNotFound(f"Configured Chromium {path!r} does not exist or is not executable; {INSTALL_HINT}")
    if is_headless_shell(path):
        if headed:
            raise ChromiumNotFound(
                f"Configured Chromium {path!r} is a headless shell, which cannot show a window; {HEADED_HINT}"
            )
        return ChromiumChoice(path, f"configured Chromium headless shell at {path}")
    return ChromiumChoice(path, f"configured Chromium at {path}")


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _headless_shell_beside(own_chromium: str) -> str | None:
    """Playwright's own headless shell, when installed: beside its full Chromium (whose path Playwright gives),
    at the revision the installed Playwright wants."""
    chromium_dir = next(
        (parent for parent in Path(own_chromium).parents if _PLAYWRIGHT_CHROMIUM_DIR.fullmatch(parent.name)), None
    )
    if chromium_dir is None:
        return None
    revision = _playwright_revision("chromium-headless-shell") or chromium_dir.name.removeprefix("chromium-")
    shell_dir = chromium_dir.parent / f"chromium_headless_shell-{revision}"
    for name in _HEADLESS_SHELL_NAMES:
        for path in sorted(shell_dir.glob(f"*/{name}")):
            if _is_executable(str(path)):
                return str(path)
    return None


def _playwright_revision(browser: str) -> str | None:
    """The revision of `browser` the installed Playwright downloads (its driver's browsers.json)."""
    browsers_json = Path(playwright_package.__file__).parent / "driver" / "package" / "browsers.json"
    try:
        browsers = json.loads(browsers_json.read_text())["browsers"]
        return next(str(entry["revision"]) for entry in browsers if entry["name"] == browser)
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        return None


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
