"""One job as the detail page shows it: its status (as the task API reports it), its Redis view, its domain
row (a booking with its step logs, or a campaign with its counts) and its dead letter, if it has one."""

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from filas import contracts, lifecycle
from filas.db.models import Booking, BookingLog, CampaignMessage, Contact, MessageStatus
from filas.db.session import session_scope
from filas.dead_letters import DeadLetter, find_dead_letter
from filas.jobs import Job, JobStatus
from filas.phones import mask, mask_name
from filas_api.evidence import evidence_list
from filas_api.job_views import job_view, task_view
from filas_api.ops.job_lists import subject

LOGS_SHOWN = 200
FAILED_MESSAGES_SHOWN = 20

LIFECYCLE_FIELDS = ("job_status", "job_attempts", "job_error", "job_cancel_requested", "job_lease_owner",
                    "job_lease_until", "job_queued_at", "job_started_at", "job_finished_at")
BOOKING_FIELDS = ("id", "portal", "lote_id", "data_agendamento", "hora_agendamento", "transportadora",
                  "tipo_veiculo", "status", "protocolo", "mensagem", "submetido_em", "criado_em", "atualizado_em")
CAMPAIGN_FIELDS = ("id", "nome", "status", "validacao_job_id", "envio_job_id", "criado_em", "atualizado_em")


@dataclass
class JobDetail:
    job_id: str
    status: JobStatus
    summary: dict[str, Any]
    queue: str
    view: Job | None
    subject: str = "—"
    row_kind: str | None = None
    row: dict[str, Any] = field(default_factory=dict)
    lifecycle: dict[str, Any] = field(default_factory=dict)
    logs: list[dict[str, Any]] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    failed_messages: list[dict[str, Any]] = field(default_factory=list)
    dead_letter: DeadLetter | None = None

    @property
    def can_cancel(self) -> bool:
        return not self.status.is_final


def job_detail(job_id: str) -> JobDetail | None:
    summary = task_view(job_id)
    if summary is None:
        return None
    view = job_view(job_id)
    contract = contracts.BY_NAME.get(summary["tipo"])
    detail = JobDetail(job_id=job_id, status=JobStatus(summary["status"]), summary=summary, view=view,
                       queue=view.queue if view and view.queue else contract.queue if contract else "")
    found = lifecycle.find_row(job_id)
    if found is not None:
        _add_row(detail, found[1])
    if detail.status == JobStatus.FAILED and detail.queue in contracts.QUEUES:
        detail.dead_letter = find_dead_letter(detail.queue, job_id, view.redis_message_id if view else "")
    return detail


def _add_row(detail: JobDetail, row: Any) -> None:
    detail.subject = subject(row)
    detail.lifecycle = {name: getattr(row, name) for name in LIFECYCLE_FIELDS}
    if isinstance(row, Booking):
        detail.row_kind = "booking"
        detail.row = {name: getattr(row, name) for name in BOOKING_FIELDS}
        detail.logs = _step_logs(row.id)
        detail.evidence = evidence_list(row.id) or []
    else:
        detail.row_kind = "campaign"
        detail.row = {name: getattr(row, name) for name in CAMPAIGN_FIELDS}
        detail.counts = _campaign_counts(row.id)
        detail.failed_messages = _failed_messages(row.id)


def _step_logs(booking_id: int) -> list[dict[str, Any]]:
    """Every step the portal worker recorded for the booking, of this job and the ones before it."""
    with session_scope() as session:
        logs = session.scalars(select(BookingLog).where(BookingLog.booking_id == booking_id)
                               .order_by(BookingLog.id.desc()).limit(LOGS_SHOWN)).all()
        return [{"criado_em": log.criado_em, "etapa": log.etapa, "nivel": log.nivel, "mensagem": log.mensagem,
                 "job_id": log.job_id} for log in reversed(logs)]


def _campaign_counts(campaign_id: int) -> dict[str, dict[str, int]]:
    with session_scope() as session:
        contacts = session.execute(select(Contact.whatsapp_status, func.count())
                                   .where(Contact.campaign_id == campaign_id).group_by(Contact.whatsapp_status))
        messages = session.execute(select(CampaignMessage.status, func.count())
                                   .where(CampaignMessage.campaign_id == campaign_id).group_by(CampaignMessage.status))
        return {"contatos (WhatsApp)": dict(contacts.all()), "mensagens": dict(messages.all())}


def _failed_messages(campaign_id: int) -> list[dict[str, Any]]:
    """The latest failed sends, with the patient's name and number masked (personal data)."""
    with session_scope() as session:
        failed = session.execute(
            select(CampaignMessage.tipo, CampaignMessage.erro, CampaignMessage.criado_em, Contact.nome,
                   Contact.telefone)
            .join(Contact, Contact.id == CampaignMessage.contact_id)
            .where(CampaignMessage.campaign_id == campaign_id, CampaignMessage.status == MessageStatus.FAILED)
            .order_by(CampaignMessage.id.desc()).limit(FAILED_MESSAGES_SHOWN)).all()
        return [{"contato": f"{mask_name(m.nome)} ({mask(m.telefone)})", "tipo": m.tipo, "erro": m.erro,
                 "criado_em": m.criado_em} for m in failed]
