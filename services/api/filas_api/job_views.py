"""Job status as the front end reads it: the row in PostgreSQL is the truth about a job, the Redis job
state its fast view (timestamps, progress, result) while retained; the row keeps the result of a job that
finished too.

Which one answers: the row, when it records the job's state — it is written before the view at every step,
and a job counts as started only once a delivery holds its lease (the view marks a fetched batch started a
moment earlier). The one exception is a view that ended while its row did not (the row's write failed; the
reconciler closes the row the same way). Without a row, the view. Neither can leave a final state, so a
status never flips back. If Redis does not answer, status comes from the row alone.
"""

import logging
from datetime import datetime
from typing import Any

import redis
from sqlalchemy import or_, select

from filas import contracts, lifecycle
from filas.broker import get_job_store
from filas.db.models import Booking, BookingStatus, Campaign, CampaignStatus, JobLifecycle
from filas.db.session import session_scope
from filas.jobs import Job, JobStatus

logger = logging.getLogger(__name__)

# The portal contract knows four states; finer ones are kept in `estado`.
PORTAL_STATUS = {
    JobStatus.QUEUED: "queued",
    JobStatus.RETRYING: "queued",
    JobStatus.STARTED: "started",
    JobStatus.FINISHED: "finished",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELLED: "failed",
}

# Rows written before the lifecycle columns existed.
BOOKING_TO_JOB = {
    BookingStatus.PENDING: JobStatus.QUEUED,
    BookingStatus.PROCESSING: JobStatus.STARTED,
    BookingStatus.BOOKED: JobStatus.FINISHED,
    BookingStatus.ERROR: JobStatus.FAILED,
    BookingStatus.CANCELLED: JobStatus.CANCELLED,
}

# A campaign's earlier task (no longer its current job) ended; the campaign says how far it got.
PAST_CAMPAIGN_TASK = {
    CampaignStatus.CANCELLED: JobStatus.CANCELLED,
    CampaignStatus.ERROR: JobStatus.FAILED,
}


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def job_view(job_id: str) -> Job | None:
    """The Redis view of a job, or None if it is gone or Redis does not answer."""
    try:
        return get_job_store().get(job_id)
    except redis.RedisError:
        logger.warning("Redis unavailable: status of job %s read from its row", job_id)
        return None


def row_status(row: JobLifecycle, fallback: JobStatus) -> JobStatus:
    return JobStatus(row.job_status) if row.job_status else fallback


def current_status(job: Job | None, row: JobLifecycle | None, fallback: JobStatus) -> JobStatus:
    if row is None:
        return job.status
    truth = row_status(row, fallback)
    if job is not None and job.status.is_final and not truth.is_final:
        return job.status
    return truth


# --- portal bookings ------------------------------------------------------------------------------

def booking_job_view(job_id: str) -> dict[str, Any] | None:
    job = job_view(job_id)
    with session_scope() as session:
        booking = session.scalars(select(Booking).where(Booking.job_id == job_id)).first()
    if job is None and booking is None:
        return None
    if job is not None and job.actor != contracts.SCHEDULE_BOOKING.name:
        if booking is None:
            return None  # another kind of job
        job = None  # a view that lost its actor (Redis emptied while the job ran): the row answers
    fallback = BOOKING_TO_JOB[booking.status] if booking is not None else JobStatus.QUEUED
    state = current_status(job, booking, fallback)
    return {
        "job_id": job_id,
        "status": PORTAL_STATUS[state],
        "estado": state,
        "criado_em": iso(_first(job and job.created_at, booking and booking.job_queued_at,
                                booking and booking.criado_em)),
        "iniciado_em": iso(_first(booking and booking.job_started_at, job and job.started_at)),
        "finalizado_em": iso(_first(booking and booking.job_finished_at, job and job.finished_at))
        if state.is_final else None,
        "tentativas": _retries(job, booking),
        "resultado": _booking_result(state, job, booking),
        "integracao": _booking_view(booking),
    }


def _booking_result(state: JobStatus, job: Job | None, booking: Booking | None) -> dict[str, Any] | None:
    if not state.is_final:
        return None
    if state == JobStatus.FINISHED:
        protocolo = _first(booking and booking.protocolo, job and (job.result or {}).get("protocolo"))
        return {"success": True, "protocolo": protocolo, "message": "Agendamento realizado"}
    message = _first(booking and booking.job_error, booking and booking.mensagem,
                     job and job.error) or str(state)
    return {"success": False, "protocolo": None, "message": message}


def _booking_view(booking: Booking | None) -> dict[str, Any] | None:
    if booking is None:
        return None
    return {
        "id": booking.id,
        "lote_id": booking.lote_id,
        "status": booking.status,
        "protocolo": booking.protocolo,
        "mensagem": booking.mensagem,
    }


# --- tasks (campaigns and periodic jobs) ------------------------------------------------------------

def task_view(job_id: str) -> dict[str, Any] | None:
    """Any job by id: its Redis view while retained, and the row whose current job it is (a booking or a
    campaign) or, for a campaign's earlier task, the campaign it worked on."""
    job = job_view(job_id)
    found = lifecycle.find_row(job_id)
    row = found[1] if found else None
    earlier = _campaign_of_earlier_task(job_id) if row is None else None
    if job is None and row is None and earlier is None:
        return None
    if earlier is not None:  # it ended: the campaign moved on to another task
        state = job.status if job is not None else PAST_CAMPAIGN_TASK.get(earlier.status, JobStatus.FINISHED)
    else:
        state = current_status(job, row, JobStatus.QUEUED)
    return {
        "task_id": job_id,
        "tipo": job.actor if job else _task_kind(row or earlier, job_id),
        "status": state,
        "criado_em": iso(_first(job and job.created_at, row and row.job_queued_at)),
        "iniciado_em": iso(_first(row and row.job_started_at, job and job.started_at)),
        "finalizado_em": iso(_first(row and row.job_finished_at, job and job.finished_at)) if state.is_final else None,
        "progresso": _progress(job.progress_done, job.progress_total) if job else None,
        "resultado": _task_result(job, row, earlier),
        "erro": _first(row and row.job_error, job and job.error) if state != JobStatus.FINISHED else None,
        "tentativas": _retries(job, row),
        "cancelamento_solicitado": bool((job and job.cancel_requested) or (row and row.job_cancel_requested))
        and not state.is_final,
    }


def _campaign_of_earlier_task(job_id: str) -> Campaign | None:
    with session_scope() as session:
        return session.scalars(select(Campaign).where(
            or_(Campaign.validacao_job_id == job_id, Campaign.envio_job_id == job_id))).first()


def _task_kind(row: JobLifecycle, job_id: str) -> str:
    if isinstance(row, Booking):
        return contracts.SCHEDULE_BOOKING.name
    return contracts.VALIDATE_NUMBERS.name if row.validacao_job_id == job_id else contracts.SEND_CAMPAIGN.name


def _task_result(job: Job | None, row: JobLifecycle | None, earlier: Campaign | None) -> Any:
    """What the job returned, from its view, else from the row whose current job it is (the view expired, or
    the row ended first); without either, a summary of the row or of the campaign of an earlier task."""
    if job is not None and job.result is not None:
        return job.result
    if row is not None and row.job_result is not None:
        return row.job_result
    return _row_summary(row or earlier)


def _row_summary(row: JobLifecycle | None) -> dict[str, Any] | None:
    if isinstance(row, Booking):
        return {"integracao_id": row.id, "integracao_status": row.status, "protocolo": row.protocolo}
    if isinstance(row, Campaign):
        return {"campanha_id": row.id, "campanha_status": row.status}
    return None


def _progress(done: int | None, total: int | None) -> dict[str, Any] | None:
    if total is None:
        return None
    percent = round(100 * (done or 0) / total, 1) if total else 100.0
    return {"feitos": done or 0, "total": total, "percentual": percent}


def _retries(job: Job | None, row: JobLifecycle | None) -> int | None:
    if job is not None:
        return job.retries
    if row is not None:
        return max(row.job_attempts - 1, 0)
    return None


def _first(*values):
    return next((value for value in values if value), None)
