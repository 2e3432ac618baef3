"""The follow-up's reads and writes: who gets a follow-up today, and the day's run of the daily job."""

from datetime import date, datetime

from sqlalchemy import exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
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
)
from filas.db.session import session_scope

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
