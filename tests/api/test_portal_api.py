"""The portal contract: booking requests, job status, reprocessing and the queue overview."""

import datetime as dt
import json

import pytest
import redis

from filas.db.models import Booking, BookingStatus
from filas.db.session import session_scope

AUTH = {"Authorization": "Bearer test-token"}  # accepted by the `client` fixture

TOMORROW = (dt.date.today() + dt.timedelta(days=1)).isoformat()


def booking(**overrides):
    body = {"lote_id": "LOTE-1", "data_agendamento": TOMORROW, "hora_agendamento": "09:00",
            "transportadora": "Transportes Exemplo", "tipo_veiculo": "truck"}
    return {**body, **overrides}


def post_booking(client, **overrides):
    return client.post("/portal/api/solicitar-agendamento-async", json=booking(**overrides), headers=AUTH)


def queued_bodies(redis_url: str, queue: str) -> list[dict]:
    client = redis.Redis.from_url(redis_url)
    return [json.loads(body) for body in client.hvals(f"dramatiq:{queue}.msgs")]


def test_a_booking_is_committed_then_queued_for_the_portal_worker(client, redis_url):
    reply = post_booking(client)

    assert reply.status_code == 202
    body = reply.get_json()
    assert body["success"] is True
    assert body["status_url"].endswith(f"/portal/api/status-job/{body['job_id']}")
    with session_scope() as session:
        row = session.get(Booking, body["integracao_id"])
    assert (row.status, row.job_id, row.lote_id) == (BookingStatus.PENDING, body["job_id"], "LOTE-1")
    [message] = queued_bodies(redis_url, "atacadao")
    assert message["message_id"] == body["job_id"]
    assert (message["actor_name"], message["kwargs"]) == ("portal.schedule_booking",
                                                          {"integracao_id": body["integracao_id"]})


def test_status_of_a_queued_booking(client):
    job_id = post_booking(client).get_json()["job_id"]

    status = client.get(f"/portal/api/status-job/{job_id}", headers=AUTH).get_json()

    assert status["status"] == "queued"
    assert status["job_id"] == job_id
    assert status["criado_em"] and status["resultado"] is None
    assert status["integracao"]["status"] == "pendente"


def test_the_legacy_synchronous_endpoint_answers_at_once_with_a_job(client, redis_url):
    reply = client.post("/portal/api/solicitar-agendamento", json=booking(lote_id="LEGADO"), headers=AUTH)

    assert reply.status_code == 202
    assert [m["message_id"] for m in queued_bodies(redis_url, "atacadao")] == [reply.get_json()["job_id"]]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"data_agendamento": "amanhã"}, "data_agendamento"),
        ({"data_agendamento": "2001-01-01"}, "data_agendamento"),
        ({"hora_agendamento": "9h"}, "hora_agendamento"),
        ({"transportadora": "  "}, "transportadora"),
        ({"lote_id": None}, "lote_id"),
        ({"placa": "ABC1234"}, "placa"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(client, redis_url, change, field):
    reply = post_booking(client, **change)

    assert reply.status_code == 400
    body = reply.get_json()
    assert body["success"] is False
    assert field in body["message"]
    assert [problem["campo"] for problem in body["erros"]] == [field]
    assert queued_bodies(redis_url, "atacadao") == []


def test_a_body_that_is_not_json_is_a_400(client):
    reply = client.post("/portal/api/solicitar-agendamento-async", data="lote=1", headers=AUTH)
    assert reply.status_code == 400
    assert "JSON" in reply.get_json()["message"]


def test_a_load_already_queued_is_not_booked_twice(client, redis_url):
    first = post_booking(client).get_json()

    second = post_booking(client, hora_agendamento="10:00")

    assert second.status_code == 409
    assert second.get_json()["integracao_id"] == first["integracao_id"]
    assert len(queued_bodies(redis_url, "atacadao")) == 1


def test_unknown_job_is_a_404(client):
    reply = client.get("/portal/api/status-job/6a3e1a64-0000-0000-0000-000000000000", headers=AUTH)
    assert reply.status_code == 404
    assert reply.get_json()["success"] is False


def test_reprocessing_refuses_live_integrations_and_requeues_failed_ones(client, redis_url):
    first = post_booking(client).get_json()
    assert client.post(f"/portal/api/reprocessar-integracao/{first['integracao_id']}", headers=AUTH).status_code == 409
    with session_scope() as session:
        session.get(Booking, first["integracao_id"]).status = BookingStatus.ERROR

    reply = client.post(f"/portal/api/reprocessar-integracao/{first['integracao_id']}", headers=AUTH)

    assert reply.status_code == 202
    new_job = reply.get_json()["job_id"]
    assert new_job != first["job_id"]
    assert {m["message_id"] for m in queued_bodies(redis_url, "atacadao")} == {first["job_id"], new_job}
    with session_scope() as session:
        row = session.get(Booking, first["integracao_id"])
    assert (row.status, row.job_id) == (BookingStatus.PENDING, new_job)
    assert client.post("/portal/api/reprocessar-integracao/999999", headers=AUTH).status_code == 404


def test_queue_overview_counts_jobs_per_queue(client):
    job_ids = {post_booking(client, lote_id=f"L{n}").get_json()["job_id"] for n in range(3)}

    filas = client.get("/portal/api/status-filas", headers=AUTH).get_json()["filas"]

    assert filas["atacadao"]["pendentes"] == 3
    assert filas["atacadao"]["em_execucao"] == 0
    assert filas["atacadao"]["redis"]["ready"] == 3
    assert {job["job_id"] for job in filas["atacadao"]["jobs"]} == job_ids
    assert filas["campaigns"]["pendentes"] == 0


def test_accepted_while_redis_is_down_then_enqueued_by_the_reconciler(configure, client, redis_url, database_url):
    from filas.reconcile import reconcile

    configure(FILAS_REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens there
    reply = post_booking(client)
    assert reply.status_code == 202
    job_id = reply.get_json()["job_id"]

    configure(FILAS_REDIS_URL=redis_url, FILAS_RECONCILE_GRACE_SECONDS="0")
    assert client.get(f"/portal/api/status-job/{job_id}", headers=AUTH).get_json()["status"] == "queued"
    assert reconcile()["reenfileirados"] == 1
    assert [m["message_id"] for m in queued_bodies(redis_url, "atacadao")] == [job_id]
    assert reconcile() == {"reenfileirados": 0, "fechados": 0, "deixados": 1}  # its message is in the queue now
