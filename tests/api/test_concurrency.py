"""The same request sent many times at once, as a double click or a retrying client does: real threads,
one Flask test client each (a client is not thread-safe), on the real PostgreSQL and Redis."""

import datetime as dt
import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import redis
import sqlalchemy
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from filas.db.models import Booking, BookingStatus, OptOut

AUTH = {"Authorization": "Bearer test-token"}  # accepted by the `client` fixture
THREADS = 8
TOMORROW = (dt.date.today() + dt.timedelta(days=2)).isoformat()
BOOKING = {"lote_id": "LOTE-DUPLO", "data_agendamento": TOMORROW, "hora_agendamento": "09:00",
           "transportadora": "Transportes Exemplo", "tipo_veiculo": "truck"}


def all_at_once(app, method: str, path: str, body: dict) -> list:
    """THREADS identical requests released together by a barrier; their responses."""
    barrier = threading.Barrier(THREADS)

    def one(_):
        client = app.test_client()
        barrier.wait()
        reply = getattr(client, method)(path, json=body, headers=AUTH)
        return reply.status_code, reply.get_json()

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(one, range(THREADS)))


def test_a_double_submitted_booking_is_accepted_once_and_refused_as_409_otherwise(client, redis_url):
    replies = all_at_once(client.application, "post", "/portal/api/solicitar-agendamento-async", BOOKING)

    assert Counter(status for status, _ in replies) == {202: 1, 409: THREADS - 1}, replies
    [accepted] = [body for status, body in replies if status == 202]
    for status, body in replies:
        if status == 409:
            assert body["success"] is False and "LOTE-DUPLO" in body["message"]
    queued = [json.loads(m) for m in redis.Redis.from_url(redis_url).hvals("dramatiq:atacadao.msgs")]
    assert [m["message_id"] for m in queued] == [accepted["job_id"]]


def test_a_booking_that_loses_the_race_at_the_insert_is_a_409_naming_the_winner(client, database_engine):
    """Deterministic version of the race: another transaction has inserted the same load but not committed,
    so our request's check sees nothing and its insert waits on the unique index; when the other commits,
    the insert fails — and the answer is the same 409 as for a load already taken."""
    with Session(database_engine) as other:
        winner = Booking(**{**BOOKING, "data_agendamento": dt.date.fromisoformat(TOMORROW)},
                         status=BookingStatus.PENDING, job_id="6a3e1a64-0000-4000-8000-00000000a001")
        other.add(winner)
        other.flush()  # inserted, holding the unique index entry, not committed
        winner_id, winner_job = winner.id, winner.job_id
        with ThreadPoolExecutor(1) as pool:
            request = pool.submit(client.application.test_client().post, "/portal/api/solicitar-agendamento-async",
                                  json=BOOKING, headers=AUTH)
            _wait_until_a_backend_waits_on_a_lock(database_engine)
            other.commit()
            reply = request.result(timeout=60)

    assert reply.status_code == 409, reply.get_json()
    body = reply.get_json()
    assert (body["success"], body["integracao_id"], body["job_id"]) == (False, winner_id, winner_job)
    assert "LOTE-DUPLO" in body["message"]


def test_concurrent_opt_outs_of_one_number_all_succeed_and_record_it_once(client, database_engine):
    replies = all_at_once(client.application, "post", "/api/optouts",
                          {"telefone": "(85) 99999-0001", "motivo": "pediu"})

    assert [status for status, _ in replies] == [201] * THREADS, replies
    assert {body["telefone"] for _, body in replies} == {"5585999990001"}
    with Session(database_engine) as session:
        assert session.scalar(select(func.count()).select_from(OptOut)) == 1


def _wait_until_a_backend_waits_on_a_lock(engine: sqlalchemy.Engine, timeout: float = 30) -> None:
    """Polls pg_stat_activity for the condition itself (a backend blocked on a lock), not a guessed delay."""
    deadline = time.monotonic() + timeout
    query = sqlalchemy.text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            if connection.scalar(query):
                return
        time.sleep(0.02)
    raise AssertionError("the request never waited on the other transaction's insert")
