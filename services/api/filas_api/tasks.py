"""Task status and cancel, for any job id (the Celery system's `/api/task/...` contract)."""

from flask import Blueprint, jsonify

from filas.cancellation import cancel_job
from filas.jobs import CancelOutcome
from filas_api.envelope import ok
from filas_api.errors import ApiError
from filas_api.job_views import task_view

bp = Blueprint("tasks", __name__, url_prefix="/api/task")


@bp.get("/<message_id:task_id>/status")
def task_status(task_id: str):
    view = task_view(task_id)
    if view is None:
        raise ApiError(404, f"tarefa {task_id} não encontrada")
    return jsonify(ok(**view))


@bp.post("/<message_id:task_id>/cancel")
def cancel_task(task_id: str):
    outcome = cancel_job(task_id)
    if outcome == CancelOutcome.UNKNOWN:
        raise ApiError(404, f"tarefa {task_id} não encontrada (ou já fora do período de retenção)")
    if outcome == CancelOutcome.TOO_LATE:
        view = task_view(task_id)
        raise ApiError(409, "a tarefa já terminou", status=view["status"] if view else None)
    if outcome == CancelOutcome.CANCELLED:
        return jsonify(ok(task_id=task_id, status="cancelled", mensagem="tarefa cancelada; não será executada"))
    return jsonify(ok(task_id=task_id, status="cancelling",
                      mensagem="cancelamento solicitado; a tarefa para no próximo ponto seguro")), 202
