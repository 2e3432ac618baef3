"""The two actions, each a confirmation page (GET) and the action itself (POST, with the CSRF token):
cancel a job, requeue a dead letter."""

from flask import abort, flash, redirect, render_template, url_for

from filas import contracts
from filas.cancellation import cancel_job
from filas.dead_letters import RequeueOutcome, get_dead_letter, requeue
from filas.jobs import CancelOutcome
from filas_api.ops.blueprint import bp
from filas_api.ops.job_detail import job_detail

CANCEL_MESSAGES = {
    CancelOutcome.CANCELLED: ("ok", "Job cancelado: ele não será executado."),
    CancelOutcome.REQUESTED: ("ok", "Cancelamento solicitado: o job para no próximo ponto seguro."),
    CancelOutcome.TOO_LATE: ("warning", "O job já tinha terminado; nada foi cancelado."),
}
REQUEUE_MESSAGES = {
    RequeueOutcome.REQUEUED: ("ok", "Job reenfileirado: volta a ser executado com novas tentativas."),
    RequeueOutcome.NOT_FAILED: ("warning", "Não reenfileirado: o job não está falho (terminou, foi cancelado ou "
                                           "já está na fila)."),
    RequeueOutcome.ROW_MOVED_ON: ("warning", "Não reenfileirado: o registro passou a outro job (reprocessado)."),
    RequeueOutcome.LOAD_TAKEN: ("warning", "Não reenfileirado: o lote já tem outro agendamento ativo ou concluído."),
}


@bp.get("/jobs/<message_id:job_id>/cancel")
def confirm_cancel(job_id: str):
    detail = _job_or_404(job_id)
    if not detail.can_cancel:
        abort(409, f"O job {job_id} já terminou ({detail.status}); não há o que cancelar.")
    return render_template("ops/confirm.html", job=detail, action="cancel",
                           post_to=url_for("ops.cancel", job_id=job_id))


@bp.post("/jobs/<message_id:job_id>/cancel")
def cancel(job_id: str):
    outcome = cancel_job(job_id)
    if outcome == CancelOutcome.UNKNOWN:
        abort(404, f"Nenhum job {job_id}.")
    category, text = CANCEL_MESSAGES[outcome]
    flash(text, category)
    return redirect(url_for("ops.job", job_id=job_id), code=303)


@bp.get("/dead-letters/<queue>/<message_id:redis_message_id>/requeue")
def confirm_requeue(queue: str, redis_message_id: str):
    letter = _dead_letter_or_404(queue, redis_message_id)
    return render_template("ops/confirm.html", job=job_detail(letter.job_id), letter=letter, action="requeue",
                           post_to=url_for("ops.requeue_dead_letter", queue=queue, redis_message_id=redis_message_id))


@bp.post("/dead-letters/<queue>/<message_id:redis_message_id>/requeue")
def requeue_dead_letter(queue: str, redis_message_id: str):
    letter = _dead_letter_or_404(queue, redis_message_id)
    outcome = requeue(queue, redis_message_id)
    if outcome == RequeueOutcome.NOT_FOUND:
        abort(404, "Esta mensagem não está mais entre as mortas (já reenfileirada, ou expirou após 7 dias).")
    category, text = REQUEUE_MESSAGES[outcome]
    flash(text, category)
    return redirect(url_for("ops.job", job_id=letter.job_id), code=303)


def _job_or_404(job_id: str):
    detail = job_detail(job_id)
    if detail is None:
        abort(404, f"Nenhum job {job_id}.")
    return detail


def _dead_letter_or_404(queue: str, redis_message_id: str):
    if queue not in contracts.QUEUES:
        abort(404, f"Fila desconhecida: {queue}. Filas: {', '.join(contracts.QUEUES)}.")
    letter = get_dead_letter(queue, redis_message_id)
    if letter is None:
        abort(404, "Esta mensagem não está entre as mortas (já reenfileirada, ou expirou após 7 dias).")
    return letter
