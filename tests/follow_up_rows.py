"""Rows for the follow-up tests: a contact of its own campaign, with the messages it was sent."""

from datetime import datetime

from filas.db.models import (
    Campaign,
    CampaignMessage,
    CampaignStatus,
    Contact,
    MessageKind,
    MessageStatus,
    WhatsappStatus,
)
from filas.db.session import session_scope

Sent = tuple[str, datetime, str]  # a message: (kind, when, status)


def initial(when: datetime, status: str = MessageStatus.SENT) -> Sent:
    return MessageKind.INITIAL, when, status


def follow_up(when: datetime, status: str = MessageStatus.SENT) -> Sent:
    return MessageKind.FOLLOW_UP, when, status


def add_contact(telefone: str, sent: list[Sent], nome: str = "Paciente", campos: dict | None = None,
                mensagem_follow_up: str = "E aí, {nome}?", **campaign_columns) -> int:
    """A valid contact of its own campaign (sent, unless `status` says otherwise), with its messages; returns
    the contact's id."""
    columns = {"status": CampaignStatus.SENT, **campaign_columns}
    with session_scope() as session:
        campaign = Campaign(nome=telefone, mensagem="Olá!", mensagem_follow_up=mensagem_follow_up, **columns)
        contact = Contact(nome=nome, telefone=telefone, campos=campos, whatsapp_status=WhatsappStatus.VALID)
        campaign.contacts.append(contact)
        session.add(campaign)
        session.flush()
        for number, (kind, when, status) in enumerate(sent):
            session.add(CampaignMessage(campaign_id=campaign.id, contact_id=contact.id, tipo=kind,
                                        referencia="" if kind == MessageKind.INITIAL else f"dia-{number}",
                                        status=status, criado_em=when,
                                        enviado_em=when if status == MessageStatus.SENT else None))
        return contact.id
