"""Task status and cancel, for any job id (the Celery system's `/api/task/...` contract)."""

from flask import Blueprint, jsonify

from filas import contracts
from filas.broker import get_job_store
from filas.db.session import session_scope
from filas.jobs import CancelOutcome
from filas_api import campaigns, portal
from filas_api.envelope import ok
from filas_api.errors import ApiError
from filas_api.job_views import task_view

bp = Blueprint("tasks", __name__, url_prefix="/api/task")

# What a cancelled-before-start job leaves in its domain row.
ON_CANCELLED = {
    contracts.SCHEDULE_BOOKING.name: portal.mark_cancelled,
    contracts.VALIDATE_NUMBERS.name: campaigns.mark_cancelled,
    contracts.SEND_CAMPAIGN.name: campaigns.mark_cancelled,
}


@bp.get("/<task_id>/status")
def task_status(task_id: str):
    view = task_view(task_id)
    if view is None:
        raise ApiError(404, f"tarefa {task_id} não encontrada")
    return jsonify(ok(**view))


@bp.post("/<task_id>/cancel")
def cancel_task(task_id: str):
    store = get_job_store()
    outcome = store.request_cancel(task_id)
    if outcome == CancelOutcome.UNKNOWN:
        raise ApiError(404, f"tarefa {task_id} não encontrada (ou já fora do período de retenção)")
    if outcome == CancelOutcome.TOO_LATE:
        raise ApiError(409, "a tarefa já terminou", status=store.get(task_id).status)
    if outcome == CancelOutcome.CANCELLED:
        _update_domain_row(task_id)
        return jsonify(ok(task_id=task_id, status="cancelled", mensagem="tarefa cancelada; não será executada"))
    return jsonify(ok(task_id=task_id, status="cancelling",
                      mensagem="cancelamento solicitado; a tarefa para no próximo ponto seguro")), 202


def _update_domain_row(task_id: str) -> None:
    job = get_job_store().get(task_id)
    on_cancelled = ON_CANCELLED.get(job.actor) if job else None
    if on_cancelled:
        with session_scope() as session:
            on_cancelled(session, task_id)
