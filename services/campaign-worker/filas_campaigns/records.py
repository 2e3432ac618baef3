"""The campaign worker's reads and writes of campaign, contact and message rows."""


from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from filas.clock import utcnow
from filas.db.models import (
    Campaign,
    CampaignMessage,
    Contact,
    MessageStatus,
    WhatsappStatus,
)
from filas.db.session import session_scope
from filas.opt_outs import is_opted_out


def load_campaign(campaign_id: int) -> Campaign | None:
    with session_scope() as session:
        return session.get(Campaign, campaign_id)


def set_campaign_status(campaign_id: int, status: str) -> None:
    with session_scope() as session:
        session.get(Campaign, campaign_id, with_for_update=True).status = status


def contacts_to_validate(campaign_id: int, limit: int) -> list[Contact]:
    with session_scope() as session:
        return list(session.scalars(
            select(Contact).where(Contact.campaign_id == campaign_id,
                                  Contact.whatsapp_status == WhatsappStatus.PENDING).order_by(Contact.id).limit(limit)
        ))


def count_contacts(campaign_id: int, whatsapp_status: str | None = None) -> int:
    query = select(func.count()).select_from(Contact).where(Contact.campaign_id == campaign_id)
    if whatsapp_status:
        query = query.where(Contact.whatsapp_status == whatsapp_status)
    with session_scope() as session:
        return session.scalar(query)


def save_validation(results: dict[int, tuple[bool, str | None]]) -> None:
    """contact id → (has WhatsApp, the gateway's id for it)."""
    with session_scope() as session:
        for contact_id, (exists_, whatsapp_id) in results.items():
            contact = session.get(Contact, contact_id)
            contact.whatsapp_status = WhatsappStatus.VALID if exists_ else WhatsappStatus.INVALID
            contact.whatsapp_id = whatsapp_id


def claim_message(contact: Contact, tipo: str, referencia: str = "") -> CampaignMessage | None:
    """Insert the message row before sending; None if this contact already has it (sent or claimed).

    The unique key (contact, kind, reference) is what makes a redelivered send skip done contacts. An
    opted-out number is recorded as skipped in the same transaction, so that no failure between the two
    can leave a row 'enviando' for a message that was never going to leave."""
    try:
        with session_scope() as session:
            opted_out = is_opted_out(session, contact.telefone)
            message = CampaignMessage(campaign_id=contact.campaign_id, contact_id=contact.id, tipo=tipo,
                                      referencia=referencia,
                                      status=MessageStatus.IGNORED if opted_out else MessageStatus.SENDING,
                                      erro="opt-out" if opted_out else None)
            session.add(message)
            session.flush()
            return message
    except IntegrityError:
        return None


def release_claim(message_id: int) -> None:
    """The send surely did not leave (e.g. 429, connection refused): a retry may send it."""
    with session_scope() as session:
        session.execute(delete(CampaignMessage).where(CampaignMessage.id == message_id))


def finish_message(message_id: int, status: str, gateway_message_id: str | None = None,
                   erro: str | None = None) -> None:
    with session_scope() as session:
        message = session.get(CampaignMessage, message_id)
        message.status = status
        message.gateway_message_id = gateway_message_id
        message.erro = erro
        if status == MessageStatus.SENT:
            message.enviado_em = utcnow()


def count_messages(campaign_id: int, tipo: str, referencia: str = "") -> dict[str, int]:
    with session_scope() as session:
        return dict(session.execute(
            select(CampaignMessage.status, func.count()).where(CampaignMessage.campaign_id == campaign_id,
                                                               CampaignMessage.tipo == tipo,
                                                               CampaignMessage.referencia == referencia)
            .group_by(CampaignMessage.status)
        ).all())
