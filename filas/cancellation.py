"""Cancel a job by id: its row first (the truth), then its Redis view (so that workers see it fast).

A waiting job (queued, delayed, retrying) is cancelled at once and its row closed — the load can be
booked again, the campaign goes back to where it was. A running one is asked to stop at its next safe
point (filas.runtime.stop_if_cancelled). A job that ended stays as it ended.
"""

import logging

import redis

from filas import lifecycle
from filas.broker import get_job_store
from filas.jobs import CancelOutcome

logger = logging.getLogger(__name__)


def cancel_job(job_id: str, reason: str = lifecycle.CANCELLED_MESSAGE) -> CancelOutcome:
    """`reason`: the message a cancelled job's row and view keep (who cancelled it, and why)."""
    found = lifecycle.find_row(job_id)
    if found is None:
        return _cancel_view(job_id, reason)  # a job with no row (a periodic one): its view is all there is
    model, _ = found
    outcome = lifecycle.request_cancel(model, job_id, reason)
    if outcome in (CancelOutcome.CANCELLED, CancelOutcome.REQUESTED):
        try:
            _cancel_view(job_id, reason)
        except redis.RedisError:
            # The row says it; a delivery that starts meanwhile is refused by its row.
            logger.warning("job %s cancelled on its row; Redis did not answer", job_id)
    return outcome


def _cancel_view(job_id: str, reason: str) -> CancelOutcome:
    store = get_job_store()
    job = store.get(job_id)
    if job is None:
        return CancelOutcome.UNKNOWN
    return store.request_cancel(job_id, job.queue, reason)
