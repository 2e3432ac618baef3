"""The pages that only read: the overview and a job's detail."""

from flask import abort, render_template

from filas import contracts
from filas.dead_letters import list_dead_letters
from filas_api.ops.blueprint import bp
from filas_api.ops.job_detail import job_detail
from filas_api.ops.job_lists import failed_jobs, recent_jobs
from filas_api.queue_views import queue_overview

DEAD_LETTERS_LISTED = 20


@bp.get("/")
def overview():
    queues = queue_overview()
    dead = [letter for queue in contracts.QUEUES for letter in list_dead_letters(queue, DEAD_LETTERS_LISTED)]
    return render_template("ops/overview.html", queues=queues, dead_letters=dead, failed=failed_jobs(),
                           recent=recent_jobs())


@bp.get("/jobs/<message_id:job_id>")
def job(job_id: str):
    detail = job_detail(job_id)
    if detail is None:
        abort(404, f"Nenhum job {job_id}: id desconhecido, ou job sem linha e fora da retenção do Redis.")
    return render_template("ops/job.html", job=detail)


@bp.route("/<path:anything>", methods=["GET", "POST"])
def unknown(anything: str):
    abort(404, "Página não encontrada.")
