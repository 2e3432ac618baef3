"""Idempotency-Key on POST /portal/api/solicitar-agendamento-async: a request sent again with the same key
gets the first one's integration and job; the keys live in PostgreSQL, and concurrent requests with one key
make one job. Real PostgreSQL and Redis; real threads for the concurrent case."""

import datetime as dt
import json
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from filas.db.models import Booking, IdempotencyKey

AUTH = {"Authorization": "Bearer test-token"}  # accepted by the `client` fixture
PATH = "/portal/api/solicitar-agendamento-async"
THREADS = 8
TOMORROW = (dt.date.today() + dt.timedelta(days=1)).isoformat()
BOOKING = {"lote_id": "LOTE-IDEM", "data_agendamento": TOMORROW, "hora_agendamento": "09:00",
           "transportadora": "Agregado", "tipo_veiculo": "11"}
IDS = ("integracao_id", "job_id", "status_url")


def post(client, key: str | None, body: dict = BOOKING):
    headers = AUTH if key is None else {**AUTH, "Idempotency-Key": key}
    return client.post(PATH, json=body, headers=headers)


def queued_job_ids(redis_url: str) -> list[str]:
    return [json.loads(m)["message_id"] for m in redis.Redis.from_url(redis_url).hvals("dramatiq:atacadao.msgs")]


def ids(reply) -> tuple:
    body = reply.get_json()
    return tuple(body[name] for name in IDS)


def test_the_same_key_and_body_again_returns_the_same_booking_and_job(client, redis_url, database_engine):
    key = str(uuid.uuid4())
    first = post(client, key)
    again = post(client, key, {**BOOKING, "lote_id": "  LOTE-IDEM  "})  # the same booking, spaced differently

    assert first.status_code == 202, first.get_json()
    assert again.status_code == 200, again.get_json()
    assert ids(again) == ids(first)
    assert again.get_json()["success"] is True and "Idempotency-Key" in again.get_json()["message"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert queued_job_ids(redis_url) == [first.get_json()["job_id"]]
    with Session(database_engine) as session:
        assert session.scalar(select(func.count()).select_from(Booking)) == 1


def test_another_body_under_a_used_key_is_a_422_naming_the_first_booking(client, redis_url):
    key = str(uuid.uuid4())
    first = post(client, key).get_json()

    other = post(client, key, {**BOOKING, "hora_agendamento": "10:00"})

    assert other.status_code == 422
    body = other.get_json()
    assert body["success"] is False and body["integracao_id"] == first["integracao_id"]
    assert body["message"] == (f"esta Idempotency-Key já foi usada com outro corpo (integração "
                               f"{first['integracao_id']}); para outro agendamento, use uma chave nova")
    assert queued_job_ids(redis_url) == [first["job_id"]]


def test_a_key_outlives_the_api_process_and_redis(client, redis_url):
    """The key is in PostgreSQL: a new API process (a restart, another replica), with Redis emptied meanwhile,
    still answers with the first request's ids."""
    key = str(uuid.uuid4())
    first = post(client, key)
    redis.Redis.from_url(redis_url).flushdb()
    from filas_api.app import create_app

    again = post(create_app().test_client(), key)

    assert (again.status_code, ids(again)) == (200, ids(first))
    assert queued_job_ids(redis_url) == []  # a replay sends nothing; the reconciler re-sends a lost job


def test_concurrent_requests_with_one_key_make_one_job(client, redis_url, database_engine):
    key = str(uuid.uuid4())
    barrier = threading.Barrier(THREADS)

    def one(_):
        test_client = client.application.test_client()
        barrier.wait()
        return post(test_client, key)

    with ThreadPoolExecutor(THREADS) as pool:
        replies = list(pool.map(one, range(THREADS)))

    assert Counter(reply.status_code for reply in replies) == {202: 1, 200: THREADS - 1}, [
        reply.get_json() for reply in replies]
    assert len({ids(reply) for reply in replies}) == 1
    [accepted] = [reply for reply in replies if reply.status_code == 202]
    assert queued_job_ids(redis_url) == [accepted.get_json()["job_id"]]
    with Session(database_engine) as session:
        [stored] = session.scalars(select(IdempotencyKey)).all()
    assert (stored.chave, stored.booking_id, stored.job_id) == (key, *ids(accepted)[:2])


def test_without_a_key_a_repeated_request_is_still_a_409(client):
    assert post(client, None).status_code == 202
    assert post(client, None).status_code == 409


def test_a_request_refused_with_a_key_leaves_the_key_free(client):
    """A 409 stores nothing: the same key can carry the request once the load may be booked again."""
    assert post(client, None).status_code == 202
    key = str(uuid.uuid4())

    assert post(client, key).status_code == 409
    assert post(client, key).status_code == 409  # refused again for the load, not replayed nor a 422


def test_a_malformed_key_is_a_400_naming_the_header(client):
    for bad in ("", "com espaço", "x" * 201, "chave-ção"):
        reply = client.post(PATH, json=BOOKING, headers={**AUTH, "Idempotency-Key": bad.encode().decode("latin-1")})
        assert reply.status_code == 400, (bad, reply.get_json())
        assert "Idempotency-Key" in reply.get_json()["message"]


def test_the_openapi_document_describes_the_header_and_its_answers(client):
    operation = client.get("/openapi.json").get_json()["paths"][PATH]["post"]

    [header] = [p for p in operation["parameters"] if p["in"] == "header"]
    assert (header["name"], header["required"], header["schema"]["maxLength"]) == ("Idempotency-Key", False, 200)
    assert {"200", "202", "422"} <= set(operation["responses"])
