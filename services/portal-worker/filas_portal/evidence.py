"""Evidence of a failed booking attempt: a JPEG screenshot and the page's HTML, taken while the page is open.

Bounded (FILAS_PORTAL_EVIDENCE_MAX_BYTES per item, FILAS_PORTAL_EVIDENCE_TIMEOUT_MS for the capture) and
without secrets: password inputs lose their values and the configured password is masked wherever it appears.
Capturing never changes a job's outcome: any failure here is logged and the evidence is skipped.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

from playwright.sync_api import Page

from filas.errors import JobCancelled, LeaseLost, WorkerStopping, describe_failure
from filas.settings import get_settings
from filas_portal import evidence_store

logger = logging.getLogger(__name__)

# How a delivery stops without the portal having failed: nothing to show.
NOT_FAILURES = (JobCancelled, LeaseLost, WorkerStopping)

# Lower qualities tried in turn until the screenshot fits FILAS_PORTAL_EVIDENCE_MAX_BYTES.
JPEG_QUALITIES = (70, 40, 15)
MASK = "********"
_INPUT_TAG = re.compile(r"<input\b[^>]*>", re.IGNORECASE)
_PASSWORD_TYPE = re.compile(r"""\btype\s*=\s*["']?password\b""", re.IGNORECASE)
_VALUE_ATTRIBUTE = re.compile(r"""\svalue\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)""", re.IGNORECASE)


@dataclass(frozen=True)
class Capture:
    url: str
    screenshot: bytes | None
    html: str | None
    html_truncated: bool


class EvidenceRecorder:
    """Keeps, for one delivery of one booking, the last step logged and the evidence of its failure."""

    def __init__(self, booking_id: int, job_id: str, attempt: int, secrets: tuple[str, ...] = ()) -> None:
        self.booking_id = booking_id
        self.job_id = job_id
        self.attempt = attempt
        self.secrets = tuple(secret for secret in secrets if secret)
        self.last_step: str | None = None

    def step(self, step: str) -> None:
        self.last_step = step

    def __call__(self, page: Page, error: BaseException) -> None:
        if isinstance(error, NOT_FAILURES):
            return
        try:
            capture = capture_page(page, self.secrets)
            evidence_store.save(self.booking_id, self.job_id, self.attempt, self.last_step,
                                describe_failure(error), capture)
        except Exception:
            logger.warning("integracao %s: evidence of the failure not kept", self.booking_id, exc_info=True)


def capture_page(page: Page, secrets: tuple[str, ...] = ()) -> Capture:
    settings = get_settings()
    max_bytes = settings.portal_evidence_max_bytes
    deadline = _Deadline(settings.portal_evidence_timeout_ms)
    screenshot = _screenshot(page, max_bytes, deadline)
    # The serialised DOM carries attributes, not what Playwright typed (an input's `value` property), so a
    # password reaches the HTML only when the portal itself writes it into the page: without_secrets removes it.
    page_html = page.locator("html").evaluate("html => html.outerHTML", timeout=deadline.remaining_ms())
    html, truncated = truncate_utf8(without_secrets(page_html, secrets), max_bytes)
    return Capture(url=page.url, screenshot=screenshot, html=html, html_truncated=truncated)


class _Deadline:
    """One time budget for every browser call of a capture (Playwright times out each call separately)."""

    def __init__(self, timeout_ms: int) -> None:
        self._ends = time.monotonic() + timeout_ms / 1000

    def remaining_ms(self) -> float:
        remaining = (self._ends - time.monotonic()) * 1000
        if remaining <= 0:
            raise TimeoutError("evidence capture out of time")
        return remaining


def _screenshot(page: Page, max_bytes: int, deadline: _Deadline) -> bytes | None:
    for quality in JPEG_QUALITIES:
        image = page.screenshot(type="jpeg", quality=quality, timeout=deadline.remaining_ms(), animations="disabled")
        if len(image) <= max_bytes:
            return image
    return None  # not even the smallest fits: the HTML still says what the page showed


def without_secrets(html: str, secrets: tuple[str, ...] = ()) -> str:
    """No password input keeps a value, and no configured secret appears anywhere (a portal may echo it)."""
    html = _INPUT_TAG.sub(_strip_password_value, html)
    for secret in secrets:
        html = html.replace(secret, MASK)
    return html


def _strip_password_value(match: re.Match[str]) -> str:
    tag = match.group(0)
    return _VALUE_ATTRIBUTE.sub("", tag) if _PASSWORD_TYPE.search(tag) else tag


def truncate_utf8(text: str, max_bytes: int) -> tuple[str, bool]:
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text, False
    return encoded[:max_bytes].decode("utf-8", errors="ignore"), True
