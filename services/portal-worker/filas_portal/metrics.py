"""The portal worker's domain metrics (prometheus-client, multiprocess mode: served with the worker's
job metrics on its metrics port).

- filas_portal_session_valid: 1 when the last portal use ended with a valid session (the saved one, or
  a new login), 0 when it found the session expired and could not log in again. A session that merely
  expired is renewed by the next booking; only one that cannot be renewed needs a person.
- filas_portal_bookings_total{outcome}: every booking attempt, by how it ended (OUTCOMES).
- filas_portal_browser_launches_total: Chromium launches.
- filas_portal_browser_recycles_total{reason}: browsers closed for a fresh one: `bookings` (served its
  quota), `memory` (grew past the limit), `crashed` (died on its own, or was killed).
- filas_portal_browser_memory_bytes: PSS of a thread's browser after each booking (the memory curve).
- filas_portal_booking_duration_seconds: time on the portal of each attempt that ended with a protocol.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Gauge, Histogram

from filas.errors import JobCancelled, LeaseLost, WorkerStopping
from filas_portal.portal_client import (
    BookingRejected,
    BookingResult,
    CaptchaRequired,
    LoginRejected,
    PortalPermanentError,
    PortalTransientError,
    SessionExpired,
    SlotUnavailable,
)

# The step names AtacadaoPortal reports: a login means the saved session was gone; reaching the form
# means the portal let us in.
LOGIN_STEP = "login"
LOGGED_IN_STEPS = frozenset({"formulario", "confirmacao"})

# Checked in order: subclasses before their base classes.
_OUTCOME_OF_ERROR: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], str], ...] = (
    (SlotUnavailable, "slot_unavailable"),
    (BookingRejected, "refused"),
    (CaptchaRequired, "captcha"),
    (SessionExpired, "session_expired"),
    (LoginRejected, "login_refused"),
    (PortalPermanentError, "failed"),
    (PortalTransientError, "portal_unavailable"),
    (JobCancelled, "cancelled"),
    ((WorkerStopping, LeaseLost), "handed_back"),
)
RECYCLE_REASONS = ("bookings", "memory", "crashed")
OUTCOMES = ("booked", "already_booked", *dict.fromkeys(outcome for _, outcome in _OUTCOME_OF_ERROR), "error")

SESSION_VALID = Gauge(
    "filas_portal_session_valid",
    "1 if the last portal use ended with a valid session, 0 if the session expired and login failed",
    multiprocess_mode="livemostrecent",
)
BOOKINGS = Counter("filas_portal_bookings_total", "Booking attempts by outcome", ["outcome"])
BROWSER_LAUNCHES = Counter("filas_portal_browser_launches_total", "Chromium browsers launched")
BROWSER_RECYCLES = Counter(
    "filas_portal_browser_recycles_total", "Chromium browsers closed for a fresh one, by reason", ["reason"]
)
BROWSER_MEMORY = Histogram(
    "filas_portal_browser_memory_bytes",
    "PSS of a worker thread's Chromium (all its processes) after a booking, at most every "
    "FILAS_PORTAL_BROWSER_MEMORY_CHECK_SECONDS",
    buckets=tuple(mib * 1024 * 1024 for mib in (64, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048)),
)
BOOKING_DURATION = Histogram(
    "filas_portal_booking_duration_seconds",
    "Seconds on the portal for a booking attempt that ended with a protocol",
    buckets=(0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60, 120, 300),
)

for _outcome in OUTCOMES:  # every outcome exported from the start: rate() sees its first increment
    BOOKINGS.labels(_outcome)
for _reason in RECYCLE_REASONS:
    BROWSER_RECYCLES.labels(_reason)


def observe_step(step: str) -> None:
    if step == LOGIN_STEP:
        SESSION_VALID.set(0)
    elif step in LOGGED_IN_STEPS:
        SESSION_VALID.set(1)


def booking_outcome(error: BaseException) -> str:
    for kinds, outcome in _OUTCOME_OF_ERROR:
        if isinstance(error, kinds):
            return outcome
    return "error"


@contextmanager
def booking_attempt() -> Iterator[None]:
    """Count the attempt run inside by how it ends; errors propagate unchanged."""
    try:
        yield
    except BaseException as error:  # Dramatiq's time limit is a BaseException
        BOOKINGS.labels(booking_outcome(error)).inc()
        raise


@contextmanager
def timed_on_portal() -> Iterator[None]:
    started = time.perf_counter()
    yield
    BOOKING_DURATION.observe(time.perf_counter() - started)


def booking_done(result: BookingResult) -> None:
    SESSION_VALID.set(1)
    BOOKINGS.labels("already_booked" if result.already_existed else "booked").inc()
