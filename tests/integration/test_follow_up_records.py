"""Who gets a follow-up, and the daily run's claim, on PostgreSQL and on the SQLite of `make run`.

SQLite keeps a timestamp as text: stored and compared in UTC (filas.db.types.UtcDateTime), a contact
whose first message left at 23:30 in Fortaleza (02:30 UTC the next day) is due the next morning."""

from datetime import UTC, date, datetime, timedelta, timezone

import follow_up_rows
import pytest
import sqlalchemy
from sqlalchemy import select

from filas.db.models import CampaignMessage, CampaignStatus
from filas.db.session import session_scope
from filas_campaigns import follow_up_records

FORTALEZA = timezone(timedelta(hours=-3))
DAY_START = datetime(2026, 11, 24, tzinfo=FORTALEZA)  # 03:00 UTC
REFERENCE_DAY = "2026-11-24"
ACTOR = "campaigns.follow_up"


def add_contact(telefone: str, first_sent_at: datetime, status: str = CampaignStatus.SENT) -> int:
    return follow_up_rows.add_contact(telefone, [follow_up_rows.initial(first_sent_at)], nome=telefone,
                                      mensagem_follow_up="E aí?", status=status)


def candidates() -> list[str]:
    return [contact.telefone for contact, _ in follow_up_records.follow_up_candidates(DAY_START, REFERENCE_DAY, 3)]


def test_the_cutoff_is_local_midnight_as_an_instant(database):
    add_contact("5585999990301", datetime(2026, 11, 23, 23, 30, tzinfo=FORTALEZA))  # the evening before
    add_contact("5585999990302", datetime(2026, 11, 24, 2, 59, tzinfo=UTC))  # 23:59 the evening before
    add_contact("5585999990303", datetime(2026, 11, 24, 3, 30, tzinfo=UTC))  # 00:30 the same day
    add_contact("5585999990304", datetime(2026, 11, 24, 0, 30, tzinfo=FORTALEZA))  # the same day

    assert candidates() == ["5585999990301", "5585999990302"]


def test_timestamps_are_stored_in_utc_and_read_back_aware(database):
    contact_id = add_contact("5585999990311", datetime(2026, 11, 23, 23, 30, tzinfo=FORTALEZA))

    with session_scope() as session:
        enviado_em = session.scalar(select(CampaignMessage.enviado_em).where(CampaignMessage.contact_id == contact_id))
    assert enviado_em == datetime(2026, 11, 24, 2, 30, tzinfo=UTC)
    assert enviado_em.utcoffset() == timedelta(0)
    if database.startswith("sqlite"):  # fixed-width UTC text: string order is time order
        with sqlalchemy.create_engine(database).connect() as connection:
            raw = connection.execute(sqlalchemy.text("SELECT enviado_em FROM mensagens")).scalar_one()
        assert raw == "2026-11-24 02:30:00.000000"


def test_a_naive_timestamp_is_refused_rather_than_guessed(database):
    with pytest.raises(sqlalchemy.exc.StatementError, match="naive datetime"):
        add_contact("5585999990321", datetime(2026, 11, 23, 12, 0))


@pytest.mark.parametrize("status", [CampaignStatus.CANCELLED, CampaignStatus.ERROR, CampaignStatus.DRAFT])
def test_cancelled_failed_and_draft_campaigns_get_no_follow_up(database, status):
    yesterday = datetime(2026, 11, 23, 12, 0, tzinfo=FORTALEZA)
    add_contact("5585999990331", yesterday, status=status)
    add_contact("5585999990332", yesterday, status=CampaignStatus.SENT)

    assert candidates() == ["5585999990332"]


def test_a_days_run_is_claimed_once_and_only_its_own_job_carries_on(database):
    day = date(2026, 11, 24)

    assert follow_up_records.claim_daily_run(ACTOR, day, "job-a")
    assert follow_up_records.claim_daily_run(ACTOR, day, "job-a")  # a retry or redelivery of the claiming job
    assert not follow_up_records.claim_daily_run(ACTOR, day, "job-b")  # a second message the same day
    follow_up_records.finish_daily_run(ACTOR, day, "job-a")
    assert not follow_up_records.claim_daily_run(ACTOR, day, "job-a")  # a redelivery after it finished
    assert follow_up_records.claim_daily_run(ACTOR, day + timedelta(days=1), "job-b")  # the next day is free
