"""Campaigns ("Busca Ativa"): the Celery system's contract (`sucesso` responses).

Contacts in bulk (CSV) are in contact_import.py, personal data erasure in erasure.py."""

from flask import Blueprint, jsonify

from filas import contracts, lifecycle
from filas.cancellation import cancel_job
from filas.db.models import Campaign, CampaignStatus, Contact
from filas.db.session import session_scope
from filas.enqueue import send
from filas.errors import InfrastructureUnavailable
from filas.jobs import CancelOutcome, JobStatus
from filas.opt_outs import record_opt_out
from filas_api.campaign_records import campaign_view, load_campaign, refuse_if_busy
from filas_api.envelope import ok
from filas_api.errors import ApiError
from filas_api.links import absolute_url
from filas_api.schemas import CampaignCreate, OptOutIn
from filas_api.validation import parse_body

bp = Blueprint("campaigns", __name__, url_prefix="/api")

PAUSED_MESSAGE = "pausada pelo usuário"


@bp.post("/campanhas")
def create_campaign():
    body = parse_body(CampaignCreate)
    template, follow_up = body.modelo, body.follow_up
    with session_scope() as session:
        campaign = Campaign(
            nome=body.nome,
            mensagem=body.mensagem,
            mensagem_follow_up=body.mensagem_follow_up,
            modelo=template.nome if template else None,
            modelo_idioma=template.idioma if template else None,
            modelo_parametros=list(template.parametros) if template else None,
            follow_up_dias=follow_up.apos_dias if follow_up else None,
            follow_up_max=follow_up.maximo if follow_up else None,
            contacts=[Contact(nome=c.nome, telefone=c.telefone) for c in body.contacts],
        )
        session.add(campaign)
        session.flush()
        view = campaign_view(session, campaign)
    return jsonify(ok(campanha=view)), 201


@bp.get("/campanhas/<db_id:campanha_id>")
def get_campaign(campanha_id: int):
    with session_scope() as session:
        return jsonify(ok(campanha=campaign_view(session, load_campaign(session, campanha_id))))


@bp.post("/campanhas/<db_id:campanha_id>/validar")
def start_validation(campanha_id: int):
    return _start(campanha_id, contracts.VALIDATE_NUMBERS, CampaignStatus.VALIDATING)


@bp.post("/campanhas/<db_id:campanha_id>/enviar")
def start_sending(campanha_id: int):
    return _start(campanha_id, contracts.SEND_CAMPAIGN, CampaignStatus.SENDING)


@bp.post("/campanhas/<db_id:campanha_id>/pausar")
def pause_sending(campanha_id: int):
    """Stop the send between two chunks (the sends in flight end first); POST .../enviar resumes it with the
    contacts not yet sent."""
    with session_scope() as session:
        campaign = load_campaign(session, campanha_id, for_update=True)
        ended = campaign.job_status is None or JobStatus(campaign.job_status).is_final
        if campaign.status != CampaignStatus.SENDING or ended:
            raise ApiError(409, f"só uma campanha em envio pode ser pausada (status: {campaign.status})")
        campaign.status = CampaignStatus.PAUSED
        job_id = campaign.envio_job_id
    outcome = cancel_job(job_id, PAUSED_MESSAGE)
    if outcome == CancelOutcome.REQUESTED:
        return jsonify(ok(status=CampaignStatus.PAUSED, task_id=job_id,
                          mensagem="pausa solicitada: a campanha para após os envios em andamento")), 202
    return jsonify(ok(status=CampaignStatus.PAUSED, task_id=job_id, mensagem="campanha pausada"))


@bp.post("/optouts")
def add_opt_out():
    body = parse_body(OptOutIn)
    with session_scope() as session:
        record_opt_out(session, body.telefone, body.motivo)  # an upsert: concurrent repeats are no error
    return jsonify(ok(telefone=body.telefone)), 201


def _start(campaign_id: int, contract: contracts.ActorContract, busy_status: str):
    with session_scope() as session:
        campaign = load_campaign(session, campaign_id, for_update=True)
        refuse_if_busy(campaign)
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
