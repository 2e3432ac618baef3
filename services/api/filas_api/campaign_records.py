"""A campaign as the campaign routes read it (one module for every blueprint that works on campaigns):
load it, refuse work while a task runs on it, and its view for the front end."""

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from filas.db.models import (
    Campaign,
    CampaignMessage,
    CampaignStatus,
    Contact,
    MessageKind,
    MessageStatus,
    WhatsappStatus,
)
from filas.jobs import JobStatus
from filas.settings import get_settings
from filas_api.errors import ApiError

# A paused campaign whose send has not yet stopped (it finishes the sends in flight) is still busy.
BUSY_STATUSES = (CampaignStatus.VALIDATING, CampaignStatus.SENDING, CampaignStatus.PAUSED)
NAME_FIELD = "nome"  # every contact's: its name


def load_campaign(session: Session, campaign_id: int, for_update: bool = False) -> Campaign:
    campaign = session.get(Campaign, campaign_id, with_for_update=for_update)
    if campaign is None:
        raise ApiError(404, f"campanha {campaign_id} não encontrada")
    return campaign


def refuse_if_busy(campaign: Campaign) -> None:
    """One task at a time per campaign: its row says whether the current one has ended."""
    ended = campaign.job_status is not None and JobStatus(campaign.job_status).is_final
    if campaign.status in BUSY_STATUSES and not ended:
        raise ApiError(409, f"a campanha já está em andamento ({campaign.status})", task_id=campaign.job_id)


def campaign_view(session: Session, campaign: Campaign) -> dict[str, Any]:
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
        "progresso": _send_progress(session, campaign, by_whatsapp.get(WhatsappStatus.VALID, 0)),
        "modelo": _template_view(campaign),
        "follow_up": _follow_up_view(campaign),
        "campos": [NAME_FIELD, *field_names(session, campaign.id)],
        "validacao_task_id": campaign.validacao_job_id,
        "envio_task_id": campaign.envio_job_id,
    }


def _send_progress(session: Session, campaign: Campaign, valid: int) -> dict[str, int]:
    """The first send's: valid contacts whose message is done (sent, refused, skipped as opted out)."""
    done = session.scalar(select(func.count()).select_from(CampaignMessage).where(
        CampaignMessage.campaign_id == campaign.id, CampaignMessage.tipo == MessageKind.INITIAL,
        CampaignMessage.referencia == "", CampaignMessage.status != MessageStatus.SENDING))
    return {"feitos": done, "total": valid}


def _template_view(campaign: Campaign) -> dict[str, Any] | None:
    if campaign.modelo is None:
        return None
    return {"nome": campaign.modelo, "idioma": campaign.modelo_idioma or get_settings().meta_template_language,
            "parametros": list(campaign.modelo_parametros or [])}


def _follow_up_view(campaign: Campaign) -> dict[str, Any]:
    """What the daily follow-up does for this campaign: its own settings, else the service's defaults."""
    settings = get_settings()
    return {
        "ativo": campaign.mensagem_follow_up is not None,
        "apos_dias": settings.follow_up_after_days if campaign.follow_up_dias is None else campaign.follow_up_dias,
        "maximo": settings.follow_up_max if campaign.follow_up_max is None else campaign.follow_up_max,
    }


def field_names(session: Session, campaign_id: int) -> list[str]:
    """The template fields the campaign's contacts have (CSV columns beyond nome and telefone), sorted."""
    if session.get_bind().dialect.name == "postgresql":
        keys = (select(func.json_object_keys(Contact.campos))
                .where(Contact.campaign_id == campaign_id, func.json_typeof(Contact.campos) == "object"))
        return sorted(set(session.scalars(keys)))
    # SQLite (`make run`): few contacts, read as they are
    rows = session.scalars(select(Contact.campos).where(Contact.campaign_id == campaign_id))
    return sorted({name for campos in rows if isinstance(campos, dict) for name in campos})
