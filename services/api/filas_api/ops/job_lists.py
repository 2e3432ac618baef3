"""The overview's job lists: recent jobs and failed jobs, each with its status, attempts and error.

Domain rows (the truth) and the Redis views still retained are read in bulk and joined by job id; a job
with no row (a periodic one) is known by its view alone.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from filas import contracts, lifecycle
from filas.broker import get_job_store
from filas.db.models import Booking, Campaign
from filas.db.session import session_scope
from filas.jobs import Job, JobStatus
from filas_api.job_views import current_status

LISTED = 25


@dataclass(frozen=True)
class JobLine:
    job_id: str
    actor: str
    queue: str
    subject: str
    status: JobStatus
    attempts: int
    error: str | None
    queued_at: datetime | None
    finished_at: datetime | None


def recent_jobs() -> list[JobLine]:
    views = _recent_views()
    rows = _rows(lambda model: model.job_queued_at)
    return _newest(_joined(rows, views), lambda line: line.queued_at)


def failed_jobs() -> list[JobLine]:
    views = {job_id: view for job_id, view in _recent_views().items() if view.status == JobStatus.FAILED}
    rows = _rows(lambda model: model.job_finished_at, status=JobStatus.FAILED)
    lines = [line for line in _joined(rows, views) if line.status == JobStatus.FAILED]
    return _newest(lines, lambda line: line.finished_at)


def _newest(lines: list[JobLine], when) -> list[JobLine]:
    return sorted(lines, key=lambda line: when(line).timestamp() if when(line) else 0, reverse=True)[:LISTED]


def _recent_views() -> dict[str, Job]:
    store = get_job_store()
    return {job.id: job for queue in contracts.QUEUES for job in store.recent(queue, LISTED)}


def _rows(order_column, status: JobStatus | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {}
    with session_scope() as session:
        for model in lifecycle.LIFECYCLE_MODELS:
            query = select(model).where(model.job_id.is_not(None))
            if status is not None:
                query = query.where(model.job_status == status)
            for row in session.scalars(query.order_by(order_column(model).desc().nulls_last()).limit(LISTED)):
                found[row.job_id] = row
    return found


def _joined(rows: dict[str, Any], views: dict[str, Job]) -> list[JobLine]:
    return [_line(job_id, rows.get(job_id), views.get(job_id)) for job_id in rows.keys() | views.keys()]


def _line(job_id: str, row: Any, view: Job | None) -> JobLine:
    status = current_status(view, row, JobStatus.QUEUED)
    actor = view.actor if view else _actor_of(row)
    return JobLine(
        job_id=job_id,
        actor=actor,
        queue=view.queue if view else contracts.BY_NAME[actor].queue,
        subject=subject(row),
        status=status,
        attempts=row.job_attempts if row is not None else view.retries + (1 if view.started_at else 0),
        error=(row.job_error if row is not None else view.error) if status != JobStatus.FINISHED else None,
        queued_at=row.job_queued_at if row is not None else view.created_at,
        finished_at=row.job_finished_at if row is not None else view.finished_at,
    )


def _actor_of(row: Any) -> str:
    if isinstance(row, Booking):
        return contracts.SCHEDULE_BOOKING.name
    return contracts.VALIDATE_NUMBERS.name if row.job_id == row.validacao_job_id else contracts.SEND_CAMPAIGN.name


def subject(row: Any) -> str:
    """What the job works on, in a few words."""
    if isinstance(row, Booking):
        return f"integração {row.id} · lote {row.lote_id}"
    if isinstance(row, Campaign):
        return f"campanha {row.id} · {row.nome}"
    return "—"
