"""Which Chromium the portal worker drives, for `make run` and the tests.

The portal worker owns the rule (`filas_portal.browser.resolve_chromium`: a headless shell before a full
Chromium); this module only calls it and falls back to looking on PATH, in the same order of preference,
while that module does not exist yet.
"""

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

FALLBACK_NAMES = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class ChromiumMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class Chromium:
    executable_path: str | None  # None: Playwright's own browser
    description: str


def find_chromium(configured: str | None = None) -> Chromium:
    """The Chromium the portal worker would launch headless; `configured` defaults to $FILAS_CHROMIUM_PATH.
    Raises ChromiumMissing."""
    configured = os.environ.get("FILAS_CHROMIUM_PATH", "") if configured is None else configured
    try:
        from filas_portal.browser import ChromiumNotFound, resolve_chromium
    except ImportError as error:
        if not error.name or not error.name.startswith("filas_portal"):
            raise
        return _find_on_path(configured)
    try:
        found = resolve_chromium(configured)
    except ChromiumNotFound as missing:
        raise ChromiumMissing(str(missing)) from missing
    return Chromium(found.executable_path, found.description)


def install_playwright_chromium() -> tuple[bool, str]:
    """Run `playwright install chromium` once: (succeeded, its output)."""
    argv = [sys.executable, "-m", "playwright", "install", "chromium"]
    result = subprocess.run(argv, check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return result.returncode == 0, result.stdout


def _find_on_path(configured: str) -> Chromium:
    for candidate in [configured] if configured else FALLBACK_NAMES:
        path = shutil.which(candidate)
        if path:
            return Chromium(path, f"{path} (found on PATH)")
    wanted = configured or " / ".join(FALLBACK_NAMES)
    raise ChromiumMissing(
        f"No Chromium found ({wanted}): install it (Debian: apt-get install chromium-headless-shell)"
    )
