"""Patients' personal data (LGPD): erase a number everywhere on request, delete contacts past retention.

The contact rows (name, number, template fields) and their messages are the only personal data kept;
opt-outs hold a keyed hash of the number (filas.opt_outs) and outlive both."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, delete, exists, func, select
from sqlalchemy.orm import Session

from filas.db.models import Campaign, CampaignMessage, CampaignStatus, Contact
from filas.opt_outs import record_opt_out
from filas.phones import phone_key

ERASURE_REASON = "dados pessoais apagados a pedido do titular (LGPD)"
# A task of these works through the campaign's contacts: retention waits until it ends.
BUSY_STATUSES = (CampaignStatus.VALIDATING, CampaignStatus.SENDING)


@dataclass(frozen=True)
class Deleted:
    contacts: int
    messages: int
    campaigns: int  # campaigns that had any of the contacts


def erase_number(session: Session, telefone: str) -> Deleted:
    """Delete every contact with this number (in either form of the ninth digit: they share the key), and
    their messages, in every campaign; and opt the number out so that no campaign contacts it again."""
    record_opt_out(session, telefone, ERASURE_REASON)
    return _delete_contacts(session, select(Contact.id).where(Contact.telefone_hash == phone_key(telefone)))


def delete_expired_contacts(session: Session, created_before: datetime) -> Deleted:
    """Delete contacts created before `created_before`, and their messages, except in campaigns that are
    validating or sending. The campaigns they are deleted from are locked first, so that a validation or
    send cannot start on them meanwhile (the API locks the campaign to start one)."""
    expired = (Contact.criado_em < created_before, Contact.campaign_id == Campaign.id)
    campaign_ids = session.scalars(
        select(Campaign.id).where(Campaign.status.not_in(BUSY_STATUSES), exists().where(*expired))
        .order_by(Campaign.id).with_for_update()
    ).all()
    if not campaign_ids:
        return Deleted(0, 0, 0)
    contacts = select(Contact.id).where(Contact.criado_em < created_before, Contact.campaign_id.in_(campaign_ids))
    return _delete_contacts(session, contacts)


def _delete_contacts(session: Session, contact_ids: Select) -> Deleted:
    """Messages first (the foreign key would cascade, but their count is reported)."""
    campaigns = session.scalar(
        select(func.count(func.distinct(Contact.campaign_id))).where(Contact.id.in_(contact_ids))
    )
    unsynchronized = {"synchronize_session": False}  # no loaded rows to keep in step: plain DELETEs
    messages = session.execute(
        delete(CampaignMessage).where(CampaignMessage.contact_id.in_(contact_ids)), execution_options=unsynchronized
    ).rowcount
    contacts = session.execute(
        delete(Contact).where(Contact.id.in_(contact_ids)), execution_options=unsynchronized
    ).rowcount
    return Deleted(contacts=contacts, messages=messages, campaigns=campaigns or 0)
