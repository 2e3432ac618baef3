"""The follow-up's reads and writes: who gets a follow-up today (as each campaign configures it), and the
day's run of the daily job."""

from datetime import date, datetime, timedelta

from sqlalchemy import Select, and_, exists, func, or_, select, update

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
from filas.db.upsert import insert_for

# A campaign the user cancelled, that failed, or that never went out gets no follow-up.
NO_FOLLOW_UP = (CampaignStatus.CANCELLED, CampaignStatus.ERROR, CampaignStatus.DRAFT)
_CAMPAIGN_FOLLOWS_UP = (Campaign.mensagem_follow_up.is_not(None), Campaign.status.not_in(NO_FOLLOW_UP))


def follow_up_candidates(day_start: datetime, referencia: str, default_max: int,
                         default_days: int = 1) -> list[tuple[Contact, Campaign]]:
    """(contact, campaign) for each contact due a follow-up on the local day starting at `day_start`.

    Due: the campaign's first message reached the contact, nothing has left for them for the campaign's
    follow_up_dias (default `default_days`) counted in local days (1: anything that left before today;
    2: before yesterday), they have not answered, have not opted out, have no follow-up for `referencia`
    yet and fewer than the campaign's follow_up_max (default `default_max`); and the campaign has a
    follow-up text and was not cancelled, failed or left as a draft.

    `day_start` is an instant (aware): the column type (filas.db.types.UtcDateTime) compares it in UTC,
    on SQLite too."""
    days = func.coalesce(Campaign.follow_up_dias, default_days)
    with session_scope() as session:
        due: list[tuple[Contact, Campaign]] = []
        for wait in session.scalars(select(days).where(*_CAMPAIGN_FOLLOWS_UP).distinct()).all():
            quiet_since = day_start - timedelta(days=max(wait, 1) - 1)
            query = _candidates(quiet_since, referencia, default_max).where(days == wait)
            due.extend((contact, campaign) for contact, campaign in session.execute(query).all())
    return sorted(due, key=lambda pair: pair[0].id)


def _candidates(quiet_since: datetime, referencia: str, default_max: int) -> Select:
    """Contacts of a campaign that follows up to whom nothing has left since `quiet_since`."""
    first_sent = select(CampaignMessage.id).where(
        CampaignMessage.contact_id == Contact.id, CampaignMessage.tipo == MessageKind.INITIAL,
        CampaignMessage.status == MessageStatus.SENT,
    )
    # A message whose outcome is unknown ('enviando') may have reached the patient: it counts from its claim.
    left_since = select(CampaignMessage.id).where(
        CampaignMessage.contact_id == Contact.id,
        or_(and_(CampaignMessage.status == MessageStatus.SENT, CampaignMessage.enviado_em >= quiet_since),
            and_(CampaignMessage.status == MessageStatus.SENDING, CampaignMessage.criado_em >= quiet_since)),
    )
    follow_ups = select(func.count(CampaignMessage.id)).where(
        CampaignMessage.contact_id == Contact.id, CampaignMessage.tipo == MessageKind.FOLLOW_UP
    ).scalar_subquery()
    today = select(CampaignMessage.id).where(
        CampaignMessage.contact_id == Contact.id, CampaignMessage.tipo == MessageKind.FOLLOW_UP,
        CampaignMessage.referencia == referencia,
    )
    opted_out = select(OptOut.telefone_hash).where(OptOut.telefone_hash == Contact.telefone_hash)
    return (
        select(Contact, Campaign)
        .join(Campaign, Campaign.id == Contact.campaign_id)
        .where(*_CAMPAIGN_FOLLOWS_UP, Contact.respondeu_em.is_(None),
               exists(first_sent), ~exists(left_since), ~exists(today), ~exists(opted_out),
               follow_ups < func.coalesce(Campaign.follow_up_max, default_max))
    )


def claim_daily_run(actor: str, referencia: date, job_id: str) -> bool:
    """Take the run of a daily job for the local day `referencia` (INSERT ... ON CONFLICT DO NOTHING).

    True if this job holds it: just claimed, or claimed earlier by this same job and not finished (a retry
    or a redelivery carries on). False if another job has it, or this one already finished it."""
    with session_scope() as session:
        claimed = session.scalar(
            insert_for(session, PeriodicRun)
            .values(actor=actor, referencia=referencia, job_id=job_id, iniciado_em=utcnow())
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
