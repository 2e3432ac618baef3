"""The reconciler on a real Redis and PostgreSQL: it re-enqueues only work that has no live delivery,
and never touches a cancelled or final row."""

import json
from datetime import timedelta

import pytest
import redis
from rows import accepted_booking

from filas import contracts
from filas.clock import utcnow
from filas.db.models import Booking, BookingStatus
from filas.db.session import session_scope
from filas.jobs import JobStatus

QUEUE = "atacadao"


@pytest.fixture
def reconcile(configure, redis_url, database_url):
    configure(FILAS_REDIS_URL=redis_url, FILAS_DATABASE_URL=database_url, FILAS_RECONCILE_GRACE_SECONDS="60")
    from filas.reconcile import reconcile

    return reconcile


def booking_row(load: str, *, queued_ago: timedelta = timedelta(minutes=5), **lifecycle_columns) -> tuple[int, str]:
    """A committed booking row whose job was queued `queued_ago`; returns (id, job id)."""
    booking_id, message = accepted_booking(load, job_queued_at=utcnow() - queued_ago, **lifecycle_columns)
    return booking_id, message.message_id


def queued_job_ids(redis_url: str) -> list[str]:
    with redis.Redis.from_url(redis_url) as client:
        return [json.loads(body)["message_id"] for body in client.hvals(f"dramatiq:{QUEUE}.msgs")]


def row(booking_id: int) -> Booking:
    with session_scope() as session:
        return session.get(Booking, booking_id)


def test_a_row_whose_message_was_lost_is_sent_again_under_its_job_id(reconcile, redis_url):
    _, job_id = booking_row("LOST")  # committed, then Redis lost the message (down, flushed, failed over)

    assert reconcile()["reenfileirados"] == 1
    assert queued_job_ids(redis_url) == [job_id]
    assert reconcile()["reenfileirados"] == 0  # now it is in the queue: left alone
    assert queued_job_ids(redis_url) == [job_id]


def test_a_row_within_its_grace_period_is_left_alone(reconcile, redis_url):
    booking_row("FRESH", queued_ago=timedelta(seconds=5))

    assert reconcile()["reenfileirados"] == 0
    assert queued_job_ids(redis_url) == []


def test_a_running_row_with_a_live_lease_is_left_alone(reconcile, redis_url):
    booking_row("RUNNING", job_status=JobStatus.STARTED, job_lease_owner="worker-a:1:x",
                job_lease_until=utcnow() + timedelta(seconds=30))

    assert reconcile()["reenfileirados"] == 0
    assert queued_job_ids(redis_url) == []


def test_a_running_row_whose_lease_lapsed_and_whose_message_is_gone_is_sent_again(reconcile, redis_url):
    _, job_id = booking_row("DEAD", job_status=JobStatus.STARTED, job_lease_owner="worker-a:1:x",
                            job_lease_until=utcnow() - timedelta(minutes=3))

    assert reconcile()["reenfileirados"] == 1
    assert queued_job_ids(redis_url) == [job_id]


def test_cancelled_and_final_rows_are_never_sent_again(reconcile, redis_url):
    for load, status in (("DONE", JobStatus.FINISHED), ("FAILED", JobStatus.FAILED),
                         ("CANCELLED", JobStatus.CANCELLED)):
        booking_row(load, job_status=status)

    assert reconcile() == {"reenfileirados": 0, "fechados": 0, "deixados": 0}
    assert queued_job_ids(redis_url) == []


def test_a_cancel_asked_of_a_job_nobody_runs_closes_its_row(reconcile, redis_url):
    booking_id, _ = booking_row("ORPHAN", job_status=JobStatus.RETRYING, job_cancel_requested=True)

    assert reconcile()["fechados"] == 1
    assert queued_job_ids(redis_url) == []
    closed = row(booking_id)
    assert (closed.job_status, closed.status) == (JobStatus.CANCELLED, BookingStatus.CANCELLED)


def test_a_row_whose_job_ended_in_redis_is_closed_as_it_ended(reconcile, redis_url):
    """The worker's final write to the row failed (PostgreSQL away at that moment); the view kept it."""
    from filas.broker import get_job_store

    booking_id, job_id = booking_row("HEAL", job_status=JobStatus.STARTED)
    store = get_job_store()
    store.record_queued(job_id, contracts.SCHEDULE_BOOKING.name, QUEUE)
    store.finish(job_id, contracts.SCHEDULE_BOOKING.name, QUEUE, JobStatus.FAILED,
                 error="tempo limite da tarefa excedido (tentativas esgotadas)")

    assert reconcile()["fechados"] == 1
    healed = row(booking_id)
    assert (healed.job_status, healed.status) == (JobStatus.FAILED, BookingStatus.ERROR)
    assert healed.job_error == "tempo limite da tarefa excedido (tentativas esgotadas)"
    assert queued_job_ids(redis_url) == []


def test_one_reconciler_at_a_time(reconcile, redis_url):
    from filas.broker import get_redis
    from filas.reconcile import LOCK

    booking_row("BUSY")
    get_redis().set(LOCK, "another replica", ex=60)

    assert reconcile() == {"ignorado": 1}
    assert queued_job_ids(redis_url) == []
