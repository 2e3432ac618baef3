"""Requeueing a dead letter on a real Redis and PostgreSQL: the job goes back to its queue under its own id
with a fresh retry budget and its row waits again; a dead letter whose row did not end failed, moved on to
another job, or whose load was booked again meanwhile stays where it is."""

import json
import time

import dramatiq
import pytest
import redis
from rows import accepted_booking

from filas.db.models import Booking, BookingStatus
from filas.db.session import session_scope
from filas.jobs import JobStatus

QUEUE = "atacadao"
DEAD = f"dramatiq:{QUEUE}.XQ"


@pytest.fixture
def dead_letters(configure, redis_url, database_url):
    configure(FILAS_REDIS_URL=redis_url, FILAS_DATABASE_URL=database_url)
    from filas import dead_letters

    return dead_letters


@pytest.fixture
def client(redis_url):
    with redis.Redis.from_url(redis_url) as connection:
        yield connection


def dead_letter(client: redis.Redis, message: dramatiq.Message, redis_message_id: str, at_ms: int) -> None:
    """As Dramatiq's nack leaves a message whose retries ran out (dispatch.lua, "nack")."""
    body = message.copy(options={"redis_message_id": redis_message_id, "retries": 5, "max_retries": 5,
                                 "traceback": "Traceback ... secret-host:5432"}).encode()
    client.zadd(DEAD, {redis_message_id: at_ms})
    client.hset(f"{DEAD}.msgs", redis_message_id, body)


def failed_booking(client: redis.Redis, load: str, redis_message_id: str) -> tuple[int, dramatiq.Message]:
    booking_id, message = accepted_booking(load, status=BookingStatus.ERROR, mensagem="portal fora",
                                           job_status=JobStatus.FAILED, job_attempts=6,
                                           job_error="portal fora (tentativas esgotadas)")
    client.hset(f"filas:job:{message.message_id}", mapping={"status": "failed", "actor": message.actor_name,
                                                            "queue": QUEUE, "error": "portal fora"})
    dead_letter(client, message, redis_message_id, int(time.time() * 1000))
    return booking_id, message


def row(booking_id: int) -> Booking:
    with session_scope() as session:
        return session.get(Booking, booking_id)


def ready_messages(client: redis.Redis) -> list[dict]:
    ids = client.lrange(f"dramatiq:{QUEUE}", 0, -1)
    return [json.loads(client.hget(f"dramatiq:{QUEUE}.msgs", rid)) for rid in ids]


def test_a_failed_booking_is_sent_again_under_its_job_id_and_its_row_waits(dead_letters, client):
    booking_id, message = failed_booking(client, "DEAD-1", "rid-1")

    assert dead_letters.requeue(QUEUE, "rid-1") == dead_letters.RequeueOutcome.REQUEUED

    [sent] = ready_messages(client)
    assert sent["message_id"] == message.message_id and sent["kwargs"] == {"integracao_id": booking_id}
    assert "retries" not in sent["options"] and "traceback" not in sent["options"]
    assert sent["options"]["max_retries"] == 5
    waiting = row(booking_id)
    assert (waiting.status, waiting.mensagem) == (BookingStatus.PENDING, None)
    assert (waiting.job_status, waiting.job_attempts, waiting.job_error) == (JobStatus.QUEUED, 0, None)
    assert client.hget(f"filas:job:{message.message_id}", "status") == b"queued"  # a view of its own again
    assert client.zcard(DEAD) == 0 and client.hlen(f"{DEAD}.msgs") == 0
    assert dead_letters.requeue(QUEUE, "rid-1") == dead_letters.RequeueOutcome.NOT_FOUND


@pytest.mark.parametrize("change, outcome", [
    ({"job_status": JobStatus.FINISHED, "status": BookingStatus.BOOKED}, "NOT_FAILED"),
    ({"job_status": JobStatus.CANCELLED, "status": BookingStatus.CANCELLED}, "NOT_FAILED"),
    ({"job_id": "reprocessed-as-another-job"}, "ROW_MOVED_ON"),
])
def test_a_dead_letter_whose_row_did_not_end_failed_stays(dead_letters, client, change, outcome):
    booking_id, _ = failed_booking(client, "DEAD-2", "rid-2")
    with session_scope() as session:
        for column, value in change.items():
            setattr(session.get(Booking, booking_id), column, value)

    assert dead_letters.requeue(QUEUE, "rid-2") == dead_letters.RequeueOutcome[outcome]

    assert ready_messages(client) == []
    assert [letter.redis_message_id for letter in dead_letters.list_dead_letters(QUEUE, 10)] == ["rid-2"]


def test_a_dead_letter_of_a_load_booked_again_meanwhile_stays(dead_letters, client):
    booking_id, _ = failed_booking(client, "DEAD-3", "rid-3")
    accepted_booking("DEAD-3")  # the load was requested again and waits

    assert dead_letters.requeue(QUEUE, "rid-3") == dead_letters.RequeueOutcome.LOAD_TAKEN

    assert row(booking_id).status == BookingStatus.ERROR
    assert client.zscore(DEAD, "rid-3") is not None and ready_messages(client) == []


def test_dead_letters_are_listed_newest_first_and_found_by_job_id(dead_letters, client):
    _, older = failed_booking(client, "DEAD-4", "rid-4")
    _, newer = failed_booking(client, "DEAD-5", "rid-5")
    client.zadd(DEAD, {"rid-4": 1_000})  # dead-lettered long ago

    listed = dead_letters.list_dead_letters(QUEUE, 10)

    assert [(letter.job_id, letter.retries) for letter in listed] == [(newer.message_id, 5), (older.message_id, 5)]
    assert dead_letters.find_dead_letter(QUEUE, older.message_id).redis_message_id == "rid-4"
    assert dead_letters.find_dead_letter(QUEUE, older.message_id, hint="rid-4").redis_message_id == "rid-4"
    assert dead_letters.find_dead_letter(QUEUE, "no-such-job") is None


def test_a_job_without_a_row_is_requeued_as_it_is(dead_letters, client):
    message = dramatiq.Message(queue_name="maintenance", actor_name="maintenance.cleanup", args=(), kwargs={},
                               options={})
    client.zadd("dramatiq:maintenance.XQ", {"rid-6": 1_000})
    client.hset("dramatiq:maintenance.XQ.msgs", "rid-6", message.copy(options={"retries": 2}).encode())

    assert dead_letters.requeue("maintenance", "rid-6") == dead_letters.RequeueOutcome.REQUEUED

    [rid] = client.lrange("dramatiq:maintenance", 0, -1)
    assert json.loads(client.hget("dramatiq:maintenance.msgs", rid))["message_id"] == message.message_id


def test_nothing_in_a_dead_letter_list_comes_from_its_traceback(dead_letters, client):
    failed_booking(client, "DEAD-7", "rid-7")

    [letter] = dead_letters.list_dead_letters(QUEUE, 10)

    assert "secret-host" not in repr(letter)

