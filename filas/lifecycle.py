"""The truth about a job: its domain row in PostgreSQL (integration, campaign), and every write to it.

Each job that works on a row records its lifecycle there (filas.db.models.JobLifecycle): the current
job id, state, attempts, last error, its result once it finished, whether cancel was asked, and a lease —
which delivery runs it and until when. Every service changes those columns through this module only:

- the API, when it accepts work (`queue`) and when a user cancels (`request_cancel`);
- the workers' RowLifecycleMiddleware (filas.middleware), around every delivery (`claim`, `renew`,
  `finish`, `retrying`) — a delivery runs only if it claimed the row with a conditional UPDATE, so two
  deliveries of one job can never run side by side;
- actors at a point of no return (`fence`: the lease is extended to cover it, or the actor stops);
- the reconciler (filas.reconcile), which re-enqueues rows left with no live delivery.

A write never moves a job out of a final state.
"""

import json
import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, or_, select, update

from filas import contracts
from filas.clock import utcnow
from filas.db.models import Booking, BookingStatus, Campaign, CampaignStatus, JobLifecycle
from filas.db.session import session_scope
from filas.errors import LeaseLost
from filas.jobs import FINAL_STATES, CancelOutcome, JobStatus, result_json

logger = logging.getLogger(__name__)

# The row each row-bound actor works on. Actors absent here (periodic ones) have no row.
ROW_MODEL: dict[str, type[JobLifecycle]] = {
    contracts.SCHEDULE_BOOKING.name: Booking,
    contracts.VALIDATE_NUMBERS.name: Campaign,
    contracts.SEND_CAMPAIGN.name: Campaign,
}
LIFECYCLE_MODELS: tuple[type[JobLifecycle], ...] = (Booking, Campaign)

CANCELLED_MESSAGE = "cancelado pelo usuário"
_FINAL = tuple(str(status) for status in FINAL_STATES)


@dataclass(eq=False)  # identity: the lease keeper holds claims in a set
class Claim:
    """A delivery's hold on its row. The lease keeper refreshes `cancel_requested` and `lost`."""

    model: type[JobLifecycle]
    row_id: int
    job_id: str
    owner: str
    attempts: int
    cancel_requested: bool = False
    lost: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class Refusal:
    """Why a delivery may not run its row, and what the delivery's job state should say (None: leave it to
    the delivery that runs the job; `held_until`: that delivery's lease, after which this one may retry)."""

    def __init__(self, reason: str, job_status: JobStatus | None, held_until: datetime | None = None):
        self.reason = reason
        self.job_status = job_status
        self.held_until = held_until

    def __repr__(self) -> str:
        return f"Refusal({self.reason!r}, {self.job_status})"


_running = threading.local()


def current_claim() -> Claim | None:
    """The claim of the delivery running in this worker thread, if its actor is row-bound."""
    return getattr(_running, "claim", None)


def set_current_claim(held: Claim | None) -> None:
    _running.claim = held


def delivery_owner() -> str:
    """Who a delivery is: this process, and an id of its own. Not the broker's id of the message: dead-worker
    recovery puts a message back under the same id, and a worker wrongly thought dead may fetch its own
    message again while its first delivery still runs."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4()}"[:200]


def model_for(actor_name: str) -> type[JobLifecycle] | None:
    return ROW_MODEL.get(actor_name)


# --- the API side ---------------------------------------------------------------------------

def queue(row: JobLifecycle, job_id: str) -> None:
    """Record on the row (in the caller's transaction) that it is now worked on by job `job_id`."""
    row.job_id = job_id
    row.job_status = JobStatus.QUEUED
    row.job_attempts = 0
    row.job_error = None
    row.job_result = None
    row.job_cancel_requested = False
    row.job_lease_owner = None
    row.job_lease_until = None
    row.job_queued_at = utcnow()
    row.job_started_at = None
    row.job_finished_at = None


def find_row(job_id: str) -> tuple[type[JobLifecycle], Any] | None:
    """The row whose current job is `job_id`, detached (read-only use)."""
    with session_scope() as session:
        for model in LIFECYCLE_MODELS:
            row = session.scalars(select(model).where(model.job_id == job_id)).first()
            if row is not None:
                return model, row
    return None


def request_cancel(model: type[JobLifecycle], job_id: str, reason: str = CANCELLED_MESSAGE) -> CancelOutcome:
    """A waiting job (queued, delayed, retrying) is cancelled at once and its row closed with `reason`; a
    running one (a live lease) is asked to stop at its next safe point."""
    now = utcnow()
    with session_scope() as session:
        row = session.scalars(select(model).where(model.job_id == job_id).with_for_update()).first()
        if row is None:
            return CancelOutcome.UNKNOWN
        if row.job_status in _FINAL:
            return CancelOutcome.TOO_LATE
        row.job_cancel_requested = True
        if row.job_lease_until is not None and row.job_lease_until > now:
            return CancelOutcome.REQUESTED
        _close(row, JobStatus.CANCELLED, reason, was_running=False)
        return CancelOutcome.CANCELLED


# --- the worker side --------------------------------------------------------------------------

def claim(model: type[JobLifecycle], job_id: str, owner: str, lease_seconds: float) -> Claim | Refusal:
    """Take the row's lease for this delivery, if the row's current job is `job_id`, it has not ended,
    no cancel was asked and no other delivery holds an unexpired lease."""
    now = utcnow()
    statement = (
        update(model)
        .where(model.job_id == job_id, or_(model.job_status.is_(None), model.job_status.not_in(_FINAL)),
               model.job_cancel_requested.is_(False),
               or_(model.job_lease_until.is_(None), model.job_lease_until < now))
        .values(job_status=JobStatus.STARTED, job_attempts=model.job_attempts + 1, job_error=None,
                job_lease_owner=owner, job_lease_until=now + timedelta(seconds=lease_seconds), job_started_at=now)
        .returning(model.id, model.job_attempts)
        .execution_options(synchronize_session=False)
    )
    with session_scope() as session:
        claimed = session.execute(statement).first()
        if claimed is not None:
            _on_started(session, model, claimed.id)
            return Claim(model, claimed.id, job_id, owner, claimed.job_attempts)
        return _refusal(session, model, job_id, now)


def _refusal(session, model: type[JobLifecycle], job_id: str, now: datetime) -> Refusal:
    row = session.scalars(select(model).where(model.job_id == job_id).with_for_update()).first()
    if row is None:
        return Refusal("not the row's current job (reprocessed or deleted)", JobStatus.CANCELLED)
    if row.job_status in _FINAL:
        return Refusal(f"the job already ended ({row.job_status})", JobStatus(row.job_status))
    if row.job_cancel_requested:
        if row.job_lease_until is None or row.job_lease_until <= now:
            _close(row, JobStatus.CANCELLED, CANCELLED_MESSAGE, was_running=False)
            return Refusal("cancelled before it started", JobStatus.CANCELLED)
        return Refusal("cancel asked while another delivery runs it", None)  # that one ends the job
    # Held by another delivery — or freed by it since our UPDATE: then this one comes back at once.
    return Refusal(f"another delivery holds the lease ({row.job_lease_owner})", JobStatus.STARTED,
                   held_until=row.job_lease_until or now)


def renew(held: Claim, lease_seconds: float) -> None:
    """Extend the lease (never shorten a fenced one); notes a lost lease and a cancel request."""
    model = held.model
    until = utcnow() + timedelta(seconds=lease_seconds)
    statement = (
        update(model)
        .where(model.id == held.row_id, model.job_id == held.job_id, model.job_lease_owner == held.owner)
        .values(job_lease_until=case((model.job_lease_until > until, model.job_lease_until), else_=until))
        .returning(model.job_cancel_requested)
        .execution_options(synchronize_session=False)
    )
    with session_scope() as session:
        renewed = session.execute(statement).first()
    with held._lock:
        if renewed is None:
            held.lost = True
        else:
            held.cancel_requested = bool(renewed.job_cancel_requested)


def fence(held: Claim, seconds: float) -> None:
    """Before a point of no return (the portal's submit): extend the lease to cover it, or raise
    LeaseLost if this delivery no longer holds an unexpired lease."""
    model = held.model
    now = utcnow()
    statement = (
        update(model)
        .where(model.id == held.row_id, model.job_id == held.job_id, model.job_lease_owner == held.owner,
               model.job_lease_until > now)
        .values(job_lease_until=now + timedelta(seconds=seconds))
        .returning(model.id)
        .execution_options(synchronize_session=False)
    )
    with session_scope() as session:
        if session.execute(statement).first() is None:
            held.lost = True
            raise LeaseLost(f"job {held.job_id}: the lease passed to another delivery")


def finish(held: Claim, status: JobStatus, error: str | None = None, result: Any = None) -> None:
    """The delivery's job ended (finished, failed or cancelled): close the row and free the lease."""
    with session_scope() as session:
        row = _owned_row(session, held)
        if row is not None and row.job_status not in _FINAL:
            _close(row, status, error, was_running=True, result=result)


def retrying(held: Claim, error: str) -> None:
    """The delivery failed and will be retried: free the lease, keep the row open."""
    with session_scope() as session:
        row = _owned_row(session, held)
        if row is not None and row.job_status not in _FINAL:
            row.job_status = JobStatus.RETRYING
            row.job_error = error
            row.job_lease_owner = None
            row.job_lease_until = None


def release(held: Claim) -> None:
    """Free the lease without changing the job's state (a delivery that stopped before its work)."""
    with session_scope() as session:
        row = _owned_row(session, held)
        if row is not None:
            row.job_lease_owner = None
            row.job_lease_until = None


def _owned_row(session, held: Claim):
    row = session.get(held.model, held.row_id, with_for_update=True)
    if row is None or row.job_id != held.job_id or row.job_lease_owner != held.owner:
        logger.warning("job %s: row %s is no longer held by this delivery", held.job_id, held.row_id)
        return None
    return row


# --- the reconciler side -----------------------------------------------------------------------

def close_unowned(model: type[JobLifecycle], row_id: int, job_id: str, status: JobStatus, error: str | None,
                  result: Any = None) -> bool:
    """Close a row that no delivery holds (the reconciler, healing from a final job state)."""
    now = utcnow()
    with session_scope() as session:
        row = session.get(model, row_id, with_for_update=True)
        if row is None or row.job_id != job_id or row.job_status in _FINAL:
            return False
        if row.job_lease_until is not None and row.job_lease_until > now:
            return False
        _close(row, status, error, was_running=False, result=result)
        return True


def requeued(model: type[JobLifecycle], row_id: int, job_id: str) -> None:
    """The reconciler sent the job again: its grace period starts over."""
    with session_scope() as session:
        row = session.get(model, row_id, with_for_update=True)
        if row is not None and row.job_id == job_id and row.job_status not in _FINAL:
            row.job_queued_at = utcnow()


# --- domain status: what the front end shows for each lifecycle step ---------------------------

def _on_started(session, model: type[JobLifecycle], row_id: int) -> None:
    if model is Booking:
        session.execute(update(Booking).where(Booking.id == row_id)
                        .values(status=BookingStatus.PROCESSING)
                        .execution_options(synchronize_session=False))


def _close(row: Any, status: JobStatus, error: str | None, *, was_running: bool, result: Any = None) -> None:
    row.job_status = status
    row.job_error = error if status != JobStatus.FINISHED else None
    row.job_result = _stored(result) if status == JobStatus.FINISHED else None
    row.job_lease_owner = None
    row.job_lease_until = None
    row.job_finished_at = utcnow()
    if status == JobStatus.CANCELLED:
        row.job_cancel_requested = True
    if isinstance(row, Booking):
        _close_booking(row, status, error)
    elif isinstance(row, Campaign):
        _close_campaign(row, status, was_running)


def _stored(result: Any) -> Any:
    """The result as its JSON reads back, the same as the Redis view keeps it."""
    return None if result is None else json.loads(result_json(result))


def _close_booking(row: Booking, status: JobStatus, error: str | None) -> None:
    if status == JobStatus.FAILED:
        row.status, row.mensagem = BookingStatus.ERROR, error
    elif status == JobStatus.CANCELLED and row.status != BookingStatus.BOOKED:
        row.status, row.mensagem = BookingStatus.CANCELLED, error or CANCELLED_MESSAGE
    # FINISHED: the actor stored the protocol and set AGENDADO itself.


def _close_campaign(row: Campaign, status: JobStatus, was_running: bool) -> None:
    validating = row.job_id == row.validacao_job_id
    if status == JobStatus.FAILED:
        row.status = CampaignStatus.ERROR
    elif status == JobStatus.CANCELLED:
        if validating:
            row.status = CampaignStatus.DRAFT
        elif row.status != CampaignStatus.PAUSED:  # a pause is a cancel that /enviar resumes
            # A send cancelled between two of its parts has sent something, like one cancelled mid-part.
            started = was_running or row.job_started_at is not None
            row.status = CampaignStatus.CANCELLED if started else CampaignStatus.VALIDATED
    elif status == JobStatus.FINISHED and row.status in (CampaignStatus.VALIDATING, CampaignStatus.SENDING,
                                                         CampaignStatus.PAUSED):  # paused as its last part ended
        row.status = CampaignStatus.VALIDATED if validating else CampaignStatus.SENT
