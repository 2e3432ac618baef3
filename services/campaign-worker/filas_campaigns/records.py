"""The campaign worker's reads and writes of campaign, contact and message rows."""

from datetime import date, datetime

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from filas.clock import utcnow
from filas.db.models import (
    Campaign,
    CampaignMessage,
    CampaignStatus,
    Contact,
    MessageKind,
    MessageStatus,
    OptOut,
    PeriodicRun,
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


def contacts_to_validate(campaign_id: int) -> list[Contact]:
    with session_scope() as session:
        return list(session.scalars(
            select(Contact).where(Contact.campaign_id == campaign_id,
                                  Contact.whatsapp_status == WhatsappStatus.PENDING).order_by(Contact.id)
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


def valid_contacts(campaign_id: int) -> list[Contact]:
    with session_scope() as session:
        return list(session.scalars(
            select(Contact).where(Contact.campaign_id == campaign_id,
                                  Contact.whatsapp_status == WhatsappStatus.VALID).order_by(Contact.id)
        ))


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


# A campaign the user cancelled, that failed, or that never went out gets no follow-up.
NO_FOLLOW_UP = (CampaignStatus.CANCELLED, CampaignStatus.ERROR, CampaignStatus.DRAFT)


def follow_up_candidates(sent_before: datetime, referencia: str, max_follow_ups: int) -> list[tuple[Contact, str]]:
    """(contact, follow-up text) for contacts whose first message left before `sent_before`, who have not
    answered, have not opted out, have no follow-up for `referencia` yet and fewer than the maximum, in
    campaigns that were not cancelled, failed or left as drafts.

    `sent_before` is an instant (aware): the column type (filas.db.types.UtcDateTime) compares it in UTC,
    on SQLite too."""
    first_sent = select(CampaignMessage.id).where(
        CampaignMessage.contact_id == Contact.id, CampaignMessage.tipo == MessageKind.INITIAL,
        CampaignMessage.status == MessageStatus.SENT, CampaignMessage.enviado_em < sent_before,
    )
    follow_ups = select(func.count(CampaignMessage.id)).where(
        CampaignMessage.contact_id == Contact.id, CampaignMessage.tipo == MessageKind.FOLLOW_UP
    ).scalar_subquery()
    today = select(CampaignMessage.id).where(
        CampaignMessage.contact_id == Contact.id, CampaignMessage.tipo == MessageKind.FOLLOW_UP,
        CampaignMessage.referencia == referencia,
    )
    opted_out = select(OptOut.telefone_hash).where(OptOut.telefone_hash == Contact.telefone_hash)
    query = (
        select(Contact, Campaign.mensagem_follow_up)
        .join(Campaign, Campaign.id == Contact.campaign_id)
        .where(Campaign.mensagem_follow_up.is_not(None), Campaign.status.not_in(NO_FOLLOW_UP),
               Contact.respondeu_em.is_(None),
               exists(first_sent), ~exists(today), ~exists(opted_out), follow_ups < max_follow_ups)
        .order_by(Contact.id)
    )
    with session_scope() as session:
        return [(contact, text) for contact, text in session.execute(query).all()]


def claim_daily_run(actor: str, referencia: date, job_id: str) -> bool:
    """Take the run of a daily job for the local day `referencia` (INSERT ... ON CONFLICT DO NOTHING).

    True if this job holds it: just claimed, or claimed earlier by this same job and not finished (a retry
    or a redelivery carries on). False if another job has it, or this one already finished it."""
    with session_scope() as session:
        claimed = session.scalar(
            _insert(session).values(actor=actor, referencia=referencia, job_id=job_id, iniciado_em=utcnow())
            .on_conflict_do_nothing(index_elements=["actor", "referencia"])
            .returning(PeriodicRun.job_id)
        )
        if claimed is not None:  # (RETURNING, not rowcount: the ORM session reports -1 for this insert)
            return True
        run = session.get(PeriodicRun, (actor, referencia))
        return run is not None and run.job_id == job_id and run.finalizado_em is None


def finish_daily_run(actor: str, referencia: date, job_id: str) -> None:
    with session_scope() as session:
        session.execute(
            update(PeriodicRun)
            .where(PeriodicRun.actor == actor, PeriodicRun.referencia == referencia,
                   PeriodicRun.job_id == job_id)
            .values(finalizado_em=utcnow())
        )


def _insert(session: Session) -> postgresql.Insert | sqlite.Insert:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(PeriodicRun)
    if dialect == "sqlite":
        return sqlite.insert(PeriodicRun)
    raise RuntimeError(f"no INSERT ... ON CONFLICT for the {dialect} dialect")
