"""A campaign send's rows, chunk by chunk: claim the next contacts, find the sends a dead delivery cut off,
and settle what each send did — each in one statement or one transaction, whatever the chunk's size."""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, case, delete, exists, func, literal, select, update
from sqlalchemy.orm import Session

from filas.clock import utcnow
from filas.db.models import CampaignMessage, Contact, MessageKind, MessageStatus, OptOut, WhatsappStatus
from filas.db.session import session_scope
from filas.db.upsert import insert_for

OPTED_OUT_ERROR = "opt-out"


@dataclass(frozen=True)
class ClaimedSend:
    """A contact's first message, claimed ('enviando') by this delivery."""

    message_id: int
    contact: Contact
    claimed_at: datetime


@dataclass
class Settlement:
    """What a chunk's sends did, to be written at once."""

    sent: list[tuple[int, str, str | None, int]] = field(default_factory=list)  # message, gateway id, wa id, contact
    failed: list[tuple[int, str]] = field(default_factory=list)  # message id, why
    released: list[int] = field(default_factory=list)  # surely not sent: sent again later

    def __bool__(self) -> bool:
        return bool(self.sent or self.failed or self.released)


def claim_chunk(campaign_id: int, limit: int) -> tuple[list[ClaimedSend], int]:
    """Claim the first message of up to `limit` valid contacts that have none yet, in contact order: a row
    'enviando' each, or 'ignorada' for an opted-out number (in the same statement, so an opt-out recorded
    meanwhile is honoured). Returns the claims to send and how many were skipped as opted out."""
    now = utcnow()
    opted_out = exists().where(OptOut.telefone_hash == Contact.telefone_hash)
    has_first_message = exists().where(CampaignMessage.contact_id == Contact.id,
                                       CampaignMessage.tipo == MessageKind.INITIAL, CampaignMessage.referencia == "")
    chosen = (
        select(Contact.campaign_id, Contact.id, literal(str(MessageKind.INITIAL)), literal(""),
               case((opted_out, literal(str(MessageStatus.IGNORED))), else_=literal(str(MessageStatus.SENDING))),
               case((opted_out, literal(OPTED_OUT_ERROR)), else_=None), literal(now, CampaignMessage.criado_em.type))
        .where(Contact.campaign_id == campaign_id, Contact.whatsapp_status == WhatsappStatus.VALID,
               ~has_first_message)
        .order_by(Contact.id)
        .limit(limit)
    )
    with session_scope() as session:
        inserted = session.execute(
            insert_for(session, CampaignMessage).from_select(
                [CampaignMessage.campaign_id, CampaignMessage.contact_id, CampaignMessage.tipo,
                 CampaignMessage.referencia, CampaignMessage.status, CampaignMessage.erro, CampaignMessage.criado_em],
                chosen,
            ).on_conflict_do_nothing().returning(CampaignMessage.id, CampaignMessage.contact_id, CampaignMessage.status)
        ).all()
        to_send = {row.contact_id: row.id for row in inserted if row.status == MessageStatus.SENDING}
        contacts = session.scalars(select(Contact).where(Contact.id.in_(to_send)).order_by(Contact.id)).all()
        claims = [ClaimedSend(to_send[contact.id], contact, now) for contact in contacts]
    return claims, len(inserted) - len(claims)


def cut_off_sends(campaign_id: int) -> list[ClaimedSend]:
    """First messages left 'enviando' by an earlier delivery that died or stopped mid-send. The delivery
    asking holds the campaign's lease: no other delivery is sending them now."""
    with session_scope() as session:
        rows = session.execute(
            select(CampaignMessage.id, CampaignMessage.criado_em, Contact)
            .join(Contact, Contact.id == CampaignMessage.contact_id)
            .where(CampaignMessage.campaign_id == campaign_id, CampaignMessage.tipo == MessageKind.INITIAL,
                   CampaignMessage.referencia == "", CampaignMessage.status == MessageStatus.SENDING)
            .order_by(CampaignMessage.id)
        ).all()
    return [ClaimedSend(message_id, contact, claimed_at) for message_id, claimed_at, contact in rows]


def settle(settlement: Settlement) -> None:
    """Write every outcome of a chunk in one transaction. Only rows still 'enviando' change: a status
    webhook that resolved one meanwhile (Cloud API) is not overwritten."""
    if not settlement:
        return
    table = CampaignMessage.__table__
    still_sending = table.c.status == MessageStatus.SENDING
    now = utcnow()
    with session_scope() as session:
        if settlement.sent:
            session.execute(
                update(table).where(table.c.id == bindparam("message_id"), still_sending)
                .values(status=MessageStatus.SENT, gateway_message_id=bindparam("gateway_id"), enviado_em=now,
                        erro=None),
                [{"message_id": m, "gateway_id": g} for m, g, _w, _c in settlement.sent],
            )
            _remember_whatsapp_ids(session, [(c, w) for _m, _g, w, c in settlement.sent if w])
        if settlement.failed:
            session.execute(
                update(table).where(table.c.id == bindparam("message_id"), still_sending)
                .values(status=MessageStatus.FAILED, erro=bindparam("why")),
                [{"message_id": m, "why": why} for m, why in settlement.failed],
            )
        if settlement.released:
            session.execute(delete(table).where(table.c.id.in_(settlement.released), still_sending))


def _remember_whatsapp_ids(session: Session, pairs: list[tuple[int, str]]) -> None:
    """The gateway's id for a number (jid, wa_id), kept where the contact has none yet."""
    if not pairs:
        return
    table = Contact.__table__
    session.execute(
        update(table).where(table.c.id == bindparam("contact_id"), table.c.whatsapp_id.is_(None))
        .values(whatsapp_id=bindparam("whatsapp_id")),
        [{"contact_id": c, "whatsapp_id": w} for c, w in pairs],
    )


def progress(campaign_id: int) -> tuple[int, int]:
    """(done, total) of a campaign's first messages: valid contacts, and those whose message has an outcome."""
    with session_scope() as session:
        total = session.scalar(select(func.count()).select_from(Contact).where(
            Contact.campaign_id == campaign_id, Contact.whatsapp_status == WhatsappStatus.VALID))
        done = session.scalar(select(func.count()).select_from(CampaignMessage).where(
            CampaignMessage.campaign_id == campaign_id, CampaignMessage.tipo == MessageKind.INITIAL,
            CampaignMessage.referencia == "", CampaignMessage.status != MessageStatus.SENDING))
    return done, total


def message_counts(campaign_id: int) -> dict[str, int]:
    with session_scope() as session:
        return dict(session.execute(
            select(CampaignMessage.status, func.count())
            .where(CampaignMessage.campaign_id == campaign_id, CampaignMessage.tipo == MessageKind.INITIAL)
            .group_by(CampaignMessage.status)
        ).all())
