"""Campaigns ("Busca Ativa"): the Celery system's contract (`sucesso` responses)."""

from flask import Blueprint, jsonify
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from filas import contracts, lifecycle
from filas.db.models import (
    Campaign,
    CampaignMessage,
    CampaignStatus,
    Contact,
    WhatsappStatus,
)
from filas.db.session import session_scope
from filas.enqueue import send
from filas.errors import InfrastructureUnavailable
from filas.jobs import JobStatus
from filas.opt_outs import record_opt_out
from filas_api.envelope import ok
from filas_api.errors import ApiError
from filas_api.links import absolute_url
from filas_api.schemas import CampaignCreate, OptOutIn
from filas_api.validation import parse_body

bp = Blueprint("campaigns", __name__, url_prefix="/api")

BUSY_STATUSES = (CampaignStatus.VALIDATING, CampaignStatus.SENDING)


@bp.post("/campanhas")
def create_campaign():
    body = parse_body(CampaignCreate)
    with session_scope() as session:
        campaign = Campaign(
            nome=body.nome,
            mensagem=body.mensagem,
            mensagem_follow_up=body.mensagem_follow_up,
            contacts=[Contact(nome=c.nome, telefone=c.telefone) for c in body.contacts],
        )
        session.add(campaign)
        session.flush()
        view = campaign_view(session, campaign)
    return jsonify(ok(campanha=view)), 201


@bp.get("/campanhas/<db_id:campanha_id>")
def get_campaign(campanha_id: int):
    with session_scope() as session:
        return jsonify(ok(campanha=campaign_view(session, _load(session, campanha_id))))


@bp.post("/campanhas/<db_id:campanha_id>/validar")
def start_validation(campanha_id: int):
    return _start(campanha_id, contracts.VALIDATE_NUMBERS, CampaignStatus.VALIDATING)


@bp.post("/campanhas/<db_id:campanha_id>/enviar")
def start_sending(campanha_id: int):
    return _start(campanha_id, contracts.SEND_CAMPAIGN, CampaignStatus.SENDING)


@bp.post("/optouts")
def add_opt_out():
    body = parse_body(OptOutIn)
    with session_scope() as session:
        record_opt_out(session, body.telefone, body.motivo)  # an upsert: concurrent repeats are no error
    return jsonify(ok(telefone=body.telefone)), 201


def _start(campaign_id: int, contract: contracts.ActorContract, busy_status: str):
    with session_scope() as session:
        campaign = _load(session, campaign_id, for_update=True)
        _refuse_if_busy(campaign)
        if contract is contracts.SEND_CAMPAIGN and campaign.status == CampaignStatus.DRAFT:
            raise ApiError(409, "valide os números da campanha antes de enviar (POST .../validar)")
        message = contract.message(campaign_id=campaign.id)
        campaign.status = busy_status
        if contract is contracts.VALIDATE_NUMBERS:
            campaign.validacao_job_id = message.message_id
        else:
            campaign.envio_job_id = message.message_id
        lifecycle.queue(campaign, message.message_id)
    try:
        send(message)
    except InfrastructureUnavailable:
        pass  # committed with its job id: the reconciler enqueues it once Redis is back
    status_url = absolute_url("tasks.task_status", task_id=message.message_id)
    return jsonify(ok(task_id=message.message_id, status_url=status_url)), 202


def _refuse_if_busy(campaign: Campaign) -> None:
    """One task at a time per campaign: its row says whether the current one has ended."""
    ended = campaign.job_status is not None and JobStatus(campaign.job_status).is_final
    if campaign.status in BUSY_STATUSES and not ended:
        raise ApiError(409, f"a campanha já está em andamento ({campaign.status})", task_id=campaign.job_id)


def _load(session: Session, campaign_id: int, for_update: bool = False) -> Campaign:
    campaign = session.get(Campaign, campaign_id, with_for_update=for_update)
    if campaign is None:
        raise ApiError(404, f"campanha {campaign_id} não encontrada")
    return campaign


def campaign_view(session: Session, campaign: Campaign) -> dict:
    by_whatsapp = dict(
        session.execute(
            select(Contact.whatsapp_status, func.count()).where(Contact.campaign_id == campaign.id)
            .group_by(Contact.whatsapp_status)
        ).all()
    )
    by_message = dict(
        session.execute(
            select(CampaignMessage.status, func.count()).where(CampaignMessage.campaign_id == campaign.id)
            .group_by(CampaignMessage.status)
        ).all()
    )
    return {
        "id": campaign.id,
        "nome": campaign.nome,
        "status": campaign.status,
        "criado_em": campaign.criado_em.isoformat(),
        "contatos": sum(by_whatsapp.values()),
        "whatsapp": {
            "validos": by_whatsapp.get(WhatsappStatus.VALID, 0),
            "invalidos": by_whatsapp.get(WhatsappStatus.INVALID, 0),
            "pendentes": by_whatsapp.get(WhatsappStatus.PENDING, 0),
        },
        "mensagens": by_message,
        "validacao_task_id": campaign.validacao_job_id,
        "envio_task_id": campaign.envio_job_id,
    }
