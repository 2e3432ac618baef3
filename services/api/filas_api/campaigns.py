"""Campaigns ("Busca Ativa"): the Celery system's contract (`sucesso` responses)."""

from flask import Blueprint, jsonify
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from filas import contracts, lifecycle
from filas.db.models import (
    Campanha,
    CampanhaStatus,
    Contato,
    Mensagem,
    WhatsappStatus,
)
from filas.db.session import session_scope
from filas.enqueue import send
from filas.errors import InfrastructureUnavailable
from filas.jobs import JobStatus
from filas_api.envelope import ok
from filas_api.errors import ApiError
from filas_api.links import absolute_url
from filas_api.optouts import record_opt_out
from filas_api.schemas import CampaignCreate, OptOutIn
from filas_api.validation import parse_body

bp = Blueprint("campaigns", __name__, url_prefix="/api")

BUSY_STATUSES = (CampanhaStatus.VALIDANDO, CampanhaStatus.ENVIANDO)


@bp.post("/campanhas")
def create_campaign():
    body = parse_body(CampaignCreate)
    with session_scope() as session:
        campanha = Campanha(
            nome=body.nome,
            mensagem=body.mensagem,
            mensagem_follow_up=body.mensagem_follow_up,
            contatos=[Contato(nome=c.nome, telefone=c.telefone) for c in body.contatos],
        )
        session.add(campanha)
        session.flush()
        view = campaign_view(session, campanha)
    return jsonify(ok(campanha=view)), 201


@bp.get("/campanhas/<db_id:campanha_id>")
def get_campaign(campanha_id: int):
    with session_scope() as session:
        return jsonify(ok(campanha=campaign_view(session, _load(session, campanha_id))))


@bp.post("/campanhas/<db_id:campanha_id>/validar")
def start_validation(campanha_id: int):
    return _start(campanha_id, contracts.VALIDATE_NUMBERS, CampanhaStatus.VALIDANDO)


@bp.post("/campanhas/<db_id:campanha_id>/enviar")
def start_sending(campanha_id: int):
    return _start(campanha_id, contracts.SEND_CAMPAIGN, CampanhaStatus.ENVIANDO)


@bp.post("/optouts")
def add_opt_out():
    body = parse_body(OptOutIn)
    with session_scope() as session:
        record_opt_out(session, body.telefone, body.motivo)  # an upsert: concurrent repeats are no error
    return jsonify(ok(telefone=body.telefone)), 201


def _start(campanha_id: int, contract: contracts.ActorContract, busy_status: str):
    with session_scope() as session:
        campanha = _load(session, campanha_id, for_update=True)
        _refuse_if_busy(campanha)
        if contract is contracts.SEND_CAMPAIGN and campanha.status == CampanhaStatus.RASCUNHO:
            raise ApiError(409, "valide os números da campanha antes de enviar (POST .../validar)")
        message = contract.message(campanha_id=campanha.id)
        campanha.status = busy_status
        if contract is contracts.VALIDATE_NUMBERS:
            campanha.validacao_job_id = message.message_id
        else:
            campanha.envio_job_id = message.message_id
        lifecycle.queue(campanha, message.message_id)
    try:
        send(message)
    except InfrastructureUnavailable:
        pass  # committed with its job id: the reconciler enqueues it once Redis is back
    status_url = absolute_url("tasks.task_status", task_id=message.message_id)
    return jsonify(ok(task_id=message.message_id, status_url=status_url)), 202


def _refuse_if_busy(campanha: Campanha) -> None:
    """One task at a time per campaign: its row says whether the current one has ended."""
    ended = campanha.job_status is not None and JobStatus(campanha.job_status).is_final
    if campanha.status in BUSY_STATUSES and not ended:
        raise ApiError(409, f"a campanha já está em andamento ({campanha.status})", task_id=campanha.job_id)


def _load(session: Session, campanha_id: int, for_update: bool = False) -> Campanha:
    campanha = session.get(Campanha, campanha_id, with_for_update=for_update)
    if campanha is None:
        raise ApiError(404, f"campanha {campanha_id} não encontrada")
    return campanha


def campaign_view(session: Session, campanha: Campanha) -> dict:
    by_whatsapp = dict(
        session.execute(
            select(Contato.whatsapp_status, func.count()).where(Contato.campanha_id == campanha.id)
            .group_by(Contato.whatsapp_status)
        ).all()
    )
    by_message = dict(
        session.execute(
            select(Mensagem.status, func.count()).where(Mensagem.campanha_id == campanha.id).group_by(Mensagem.status)
        ).all()
    )
    return {
        "id": campanha.id,
        "nome": campanha.nome,
        "status": campanha.status,
        "criado_em": campanha.criado_em.isoformat(),
        "contatos": sum(by_whatsapp.values()),
        "whatsapp": {
            "validos": by_whatsapp.get(WhatsappStatus.VALIDO, 0),
            "invalidos": by_whatsapp.get(WhatsappStatus.INVALIDO, 0),
            "pendentes": by_whatsapp.get(WhatsappStatus.PENDENTE, 0),
        },
        "mensagens": by_message,
        "validacao_task_id": campanha.validacao_job_id,
        "envio_task_id": campanha.envio_job_id,
    }
