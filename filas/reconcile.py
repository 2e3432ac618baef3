"""Re-enqueue accepted work that has no live delivery; close rows whose job ended without them.

A row is committed with its job id before the message is sent (filas.enqueue). If Redis was down at that
moment, or was flushed or failed over afterwards, the row waits with no message anywhere. Every minute the
scheduler leader runs this itself (filas_scheduler.leader_tasks: not queued behind the backlog it repairs,
so no tick goes stale), one run at a time across replicas (a Redis lock). It looks at rows that are
waiting or running, past a grace period, with no unexpired lease:

- cancel asked and nobody running it → closed as cancelled;
- its job's Redis view says it ended → the row says so too (a row write that failed when it ended);
- its message is still in the broker (ready, delayed, or in a worker's ack set: the body is in the
  queue's `.msgs` hash until acknowledged) → left alone, a worker will get to it;
- otherwise → sent again under the same job id. Deliveries claim the row's lease, so a copy that
  turns out to exist after all can never run beside this one.

Cancelled and final rows are never touched.
"""

import logging
from collections.abc import Iterator
from contextlib import suppress
from datetime import timedelta
from typing import Any

import dramatiq
from redis.exceptions import LockError
from sqlalchemy import func, or_, select

from filas import contracts, lifecycle
from filas.broker import get_job_store, get_redis
from filas.clock import utcnow
from filas.db.models import Booking, Campaign, JobLifecycle
from filas.db.session import session_scope
from filas.enqueue import send
from filas.jobs import Job, JobStatus
from filas.settings import get_settings

logger = logging.getLogger(__name__)

LOCK = "filas:lock:reconcile"
LOCK_SECONDS = 300  # longer than any run; released at the end of each
OPEN_STATES = (JobStatus.QUEUED, JobStatus.RETRYING, JobStatus.STARTED)
BATCH = 500


def reconcile() -> dict[str, int]:
    lock = get_redis().lock(LOCK, timeout=LOCK_SECONDS, blocking=False)
    if not lock.acquire():
        logger.info("another reconciler is running: this tick does nothing")
        return {"ignorado": 1}
    try:
        counts = {"reenfileirados": 0, "fechados": 0, "deixados": 0}
        for model, row in _unattended_rows():
            counts[_attend(model, row)] += 1
        return counts
    finally:
        with suppress(LockError):  # expired, or Redis was flushed meanwhile: nothing to release
            lock.release()


def _unattended_rows() -> Iterator[tuple[type[JobLifecycle], Any]]:
    now = utcnow()
    cutoff = now - timedelta(seconds=get_settings().reconcile_grace_seconds)
    for model in lifecycle.LIFECYCLE_MODELS:
        with session_scope() as session:
            rows = session.scalars(select(model).where(
                model.job_id.is_not(None),
                model.job_status.in_(OPEN_STATES),
                or_(model.job_lease_until.is_(None), model.job_lease_until < now),
                func.coalesce(model.job_queued_at, model.atualizado_em) < cutoff,
            ).order_by(model.id).limit(BATCH)).all()
        for row in rows:
            yield model, row


def _attend(model: type[JobLifecycle], row: Any) -> str:
    if row.job_cancel_requested:
        lifecycle.close_unowned(model, row.id, row.job_id, JobStatus.CANCELLED, lifecycle.CANCELLED_MESSAGE)
        return "fechados"
    job = get_job_store().get(row.job_id)
    if job is not None and job.status.is_final:
        lifecycle.close_unowned(model, row.id, row.job_id, job.status, job.error, job.result)
        return "fechados"
    if job is not None and _in_broker(job):
        return "deixados"
    message = _message_for(model, row)
    logger.warning("re-enqueuing %s job %s: no live delivery", message.actor_name, message.message_id)
    send(message)
    lifecycle.requeued(model, row.id, row.job_id)
    return "reenfileirados"


def _in_broker(job: Job) -> bool:
    """The message is ready, delayed or held by a worker: its body is in the queue's `.msgs` hash."""
    if not job.redis_message_id:
        return True  # written before views recorded where their message is: trust the view
    return bool(get_redis().hexists(f"dramatiq:{job.broker_queue}.msgs", job.redis_message_id))


def _message_for(model: type[JobLifecycle], row: Any) -> dramatiq.Message:
    if model is Booking:
        message = contracts.SCHEDULE_BOOKING.message(booking_id=row.id)
    elif model is Campaign and row.job_id == row.validacao_job_id:
        message = contracts.VALIDATE_NUMBERS.message(campaign_id=row.id)
    else:
        message = contracts.SEND_CAMPAIGN.message(campaign_id=row.id)
    return message.copy(message_id=row.job_id)
