"""Job status as the front end reads it: from Redis job state while it is retained, then from the
domain row that carries the job id."""

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from filas import contracts
from filas.broker import get_job_store, get_redis
from filas.db.models import Campanha, CampanhaStatus, IntegracaoStatus, PortalIntegracao
from filas.db.session import session_scope
from filas.jobs import Job, JobStatus
from filas.queue_depth import queue_depths

# The portal contract knows four states; finer ones are kept in `estado`.
PORTAL_STATUS = {
    JobStatus.QUEUED: "queued",
    JobStatus.RETRYING: "queued",
    JobStatus.STARTED: "started",
    JobStatus.FINISHED: "finished",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELLED: "failed",
}

INTEGRATION_TO_JOB = {
    IntegracaoStatus.PENDENTE: JobStatus.QUEUED,
    IntegracaoStatus.PROCESSANDO: JobStatus.STARTED,
    IntegracaoStatus.AGENDADO: JobStatus.FINISHED,
    IntegracaoStatus.ERRO: JobStatus.FAILED,
    IntegracaoStatus.CANCELADO: JobStatus.CANCELLED,
}


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def booking_job_view(job_id: str) -> dict[str, Any] | None:
    job = get_job_store().get(job_id)
    with session_scope() as session:
        integracao = session.scalars(select(PortalIntegracao).where(PortalIntegracao.job_id == job_id)).first()
    if job is None and integracao is None:
        return None
    if job is not None and job.actor != contracts.SCHEDULE_BOOKING.name:
        return None
    state = job.status if job else INTEGRATION_TO_JOB[integracao.status]
    return {
        "job_id": job_id,
        "status": PORTAL_STATUS[state],
        "estado": state,
        "criado_em": iso(job.created_at if job else integracao.criado_em),
        "iniciado_em": iso(job.started_at) if job else None,
        "finalizado_em": iso(job.finished_at if job else integracao.finalizado_em),
        "tentativas": job.retries if job else None,
        "resultado": _booking_result(state, job, integracao),
        "integracao": _integration_view(integracao),
    }


def _booking_result(state: str, job: Job | None, integracao: PortalIntegracao | None) -> dict[str, Any] | None:
    if state not in JobStatus.FINAL:
        return None
    if state == JobStatus.FINISHED:
        protocolo = (job.result or {}).get("protocolo") if job else None
        protocolo = protocolo or (integracao.protocolo if integracao else None)
        return {"success": True, "protocolo": protocolo, "message": "Agendamento realizado"}
    message = (job.error if job else None) or (integracao.mensagem if integracao else None) or state
    return {"success": False, "protocolo": None, "message": message}


def _integration_view(integracao: PortalIntegracao | None) -> dict[str, Any] | None:
    if integracao is None:
        return None
    return {
        "id": integracao.id,
        "lote_id": integracao.lote_id,
        "status": integracao.status,
        "protocolo": integracao.protocolo,
        "mensagem": integracao.mensagem,
    }


def task_view(job_id: str) -> dict[str, Any] | None:
    job = get_job_store().get(job_id)
    if job is not None:
        return _task_from_job(job)
    return _task_from_campaign(job_id)


def _task_from_job(job: Job) -> dict[str, Any]:
    return {
        "task_id": job.id,
        "tipo": job.actor,
        "status": job.status,
        "criado_em": iso(job.created_at),
        "iniciado_em": iso(job.started_at),
        "finalizado_em": iso(job.finished_at),
        "progresso": _progress(job.progress_done, job.progress_total),
        "resultado": job.result,
        "erro": job.error,
        "tentativas": job.retries,
        "cancelamento_solicitado": job.cancel_requested and job.status not in JobStatus.FINAL,
    }


def _progress(done: int | None, total: int | None) -> dict[str, Any] | None:
    if total is None:
        return None
    percent = round(100 * (done or 0) / total, 1) if total else 100.0
    return {"feitos": done or 0, "total": total, "percentual": percent}


CAMPAIGN_TO_JOB = {
    CampanhaStatus.VALIDANDO: JobStatus.STARTED,
    CampanhaStatus.ENVIANDO: JobStatus.STARTED,
    CampanhaStatus.VALIDADA: JobStatus.FINISHED,
    CampanhaStatus.ENVIADA: JobStatus.FINISHED,
    CampanhaStatus.CANCELADA: JobStatus.CANCELLED,
    CampanhaStatus.ERRO: JobStatus.FAILED,
}


def _task_from_campaign(job_id: str) -> dict[str, Any] | None:
    """After retention: what the campaign row still says about the job that last touched it."""
    with session_scope() as session:
        campanha = session.scalars(
            select(Campanha).where(or_(Campanha.validacao_job_id == job_id, Campanha.envio_job_id == job_id))
        ).first()
    if campanha is None:
        return None
    tipo = contracts.VALIDATE_NUMBERS.name if campanha.validacao_job_id == job_id else contracts.SEND_CAMPAIGN.name
    return {
        "task_id": job_id,
        "tipo": tipo,
        "status": CAMPAIGN_TO_JOB.get(campanha.status, JobStatus.QUEUED),
        "criado_em": None,
        "iniciado_em": None,
        "finalizado_em": None,
        "progresso": None,
        "resultado": {"campanha_id": campanha.id, "campanha_status": campanha.status},
        "erro": None,
        "tentativas": None,
        "cancelamento_solicitado": False,
    }


RECENT_JOBS_LISTED = 20
RECENT_JOBS_COUNTED = 1000


def queue_overview() -> dict[str, dict[str, Any]]:
    """Per queue: counts over the retention window from job state, plus Redis's own depths."""
    store = get_job_store()
    depths = queue_depths(get_redis(), contracts.QUEUES)
    overview = {}
    for queue in contracts.QUEUES:
        jobs = store.recent(queue, RECENT_JOBS_COUNTED)
        overview[queue] = {
            "pendentes": sum(job.status in JobStatus.WAITING for job in jobs),
            "em_execucao": sum(job.status == JobStatus.STARTED for job in jobs),
            "concluidos": sum(job.status == JobStatus.FINISHED for job in jobs),
            "falhados": sum(job.status == JobStatus.FAILED for job in jobs),
            "cancelados": sum(job.status == JobStatus.CANCELLED for job in jobs),
            "redis": depths[queue],
            "jobs": [
                {"job_id": job.id, "tipo": job.actor, "status": job.status, "criado_em": iso(job.created_at)}
                for job in jobs[:RECENT_JOBS_LISTED]
            ],
        }
    return overview
