"""Input the database or the broker could never hold answers 4xx saying what is wrong, never 500:
ids out of range, text PostgreSQL cannot store, bodies over the size limit, dates past in Fortaleza."""

import datetime as dt
import json

import pytest
import redis

import filas.clock
from filas.db.models import Booking
from filas.db.session import session_scope

AUTH = {"Authorization": "Bearer test-token"}  # accepted by the `client` fixture
URL = "/api/webhooks/evolution?token=webhook-secret"  # FILAS_WEBHOOK_TOKEN of the `client` fixture
HUGE = "99999999999999999999"
FUTURE = "2099-01-31"


def booking(**overrides):
    return {"lote_id": "LOTE-1", "data_agendamento": FUTURE, "hora_agendamento": "09:00",
            "transportadora": "Transportes Exemplo", "tipo_veiculo": "truck", **overrides}


def post_json(client, path: str, body, headers=AUTH):
    """Sent as ASCII JSON (\\ud800 escaped), as a client's serializer does: the raw text could not be encoded."""
    return client.post(path, data=json.dumps(body), content_type="application/json", headers=headers)


@pytest.mark.parametrize("method, path", [
    ("get", f"/api/campanhas/{HUGE}"),
    ("post", f"/api/campanhas/{HUGE}/validar"),
    ("post", f"/api/campanhas/{HUGE}/enviar"),
    ("post", f"/portal/api/reprocessar-integracao/{HUGE}"),
    ("get", "/api/campanhas/2147483648"),  # one past PostgreSQL's integer
    ("get", "/api/campanhas/0"),
    ("get", "/api/campanhas/-1"),
    ("get", "/api/campanhas/2147483647"),  # in range, unknown: asked to the database
    ("get", "/portal/api/status-job/nope"),
    ("get", "/portal/api/status-job/6a3e1a64-0000-4000-8000-00000000000"),  # one digit short
    ("get", "/api/task/nope/status"),
    ("post", "/api/task/nope/cancel"),
    ("post", f"/api/task/{'9' * 5000}/cancel"),
])
def test_ids_no_row_or_job_could_have_are_a_json_404(client, redis_client, method, path):
    reply = getattr(client, method)(path, headers=AUTH)

    assert reply.status_code == 404
    assert reply.get_json()["success" if path.startswith("/portal") else "sucesso"] is False
    assert redis_client.dbsize() == 0  # nothing was written for a garbage id


def test_job_ids_are_read_in_any_case(client):
    job_id = post_json(client, "/portal/api/solicitar-agendamento-async", booking()).get_json()["job_id"]

    reply = client.get(f"/portal/api/status-job/{job_id.upper()}", headers=AUTH)

    assert reply.status_code == 200
    assert reply.get_json()["job_id"] == job_id


@pytest.mark.parametrize("text", ["LOTE\x00-1", "LOTE-\ud800"], ids=["nul", "lone-surrogate"])
@pytest.mark.parametrize("path, body, field", [
    ("/portal/api/solicitar-agendamento-async", booking(lote_id="{}"), "lote_id"),
    ("/portal/api/solicitar-agendamento-async", booking(transportadora="{}"), "transportadora"),
    ("/portal/api/solicitar-agendamento-async", booking(data_agendamento="{}"), "data_agendamento"),
    ("/api/campanhas", {"nome": "{}", "mensagem": "Olá", "contatos": [{"nome": "A", "telefone": "85999990001"}]},
     "nome"),
    ("/api/campanhas", {"nome": "c", "mensagem": "Olá", "mensagem_follow_up": "{}",
                        "contatos": [{"nome": "A", "telefone": "85999990001"}]}, "mensagem_follow_up"),
    ("/api/campanhas", {"nome": "c", "mensagem": "Olá", "contatos": [
        {"nome": "A", "telefone": "85999990001"}, {"nome": "{}", "telefone": "85988880002"}]}, "contatos.1.nome"),
    ("/api/optouts", {"telefone": "85999990001", "motivo": "{}"}, "motivo"),
    ("/api/optouts", {"telefone": "{}"}, "telefone"),
])
def test_text_the_database_cannot_store_is_a_400_naming_the_field(client, text, path, body, field):
    body = json.loads(json.dumps(body).replace('"{}"', json.dumps(text)))

    reply = post_json(client, path, body)

    assert reply.status_code == 400, reply.get_data(as_text=True)
    answer = reply.get_json()
    assert [problem["campo"] for problem in answer["erros"]] == [field]
    assert field in answer.get("message", answer.get("erro"))


def test_an_unknown_field_named_with_a_lone_surrogate_is_a_400_not_a_broken_response(client):
    reply = post_json(client, "/api/optouts", {"telefone": "85999990001", "\ud800x": 1})

    assert reply.status_code == 400
    assert "unicode" in reply.get_json()["erro"]


@pytest.mark.parametrize("path, dialect", [("/portal/api/solicitar-agendamento-async", "message"),
                                           ("/api/campanhas", "erro"), (URL, "erro")])
def test_a_body_over_the_size_limit_is_a_413_in_the_json_envelope(client, path, dialect):
    limit = 1_048_576  # FILAS_API_MAX_BODY_BYTES default
    body = json.dumps(booking(transportadora="x" * limit))

    reply = client.post(path, data=body, content_type="application/json", headers=AUTH)

    assert reply.status_code == 413
    answer = reply.get_json()
    assert answer[dialect] == f"o corpo da requisição passa do limite de {limit} bytes"
    assert answer.get("success", answer.get("sucesso")) is False


def test_the_body_size_limit_is_a_setting(configure, redis_url, database_url):
    from filas_api.app import create_app

    configure(FILAS_REDIS_URL=redis_url, FILAS_DATABASE_URL=database_url, FILAS_API_TOKENS="test-token",
              FILAS_API_MAX_BODY_BYTES="100")
    client = create_app().test_client()

    assert post_json(client, "/api/optouts", {"telefone": "85999990001"}).status_code == 201
    reply = post_json(client, "/api/optouts", {"telefone": "85999990001", "motivo": "m" * 100})
    assert (reply.status_code, reply.get_json()["erro"]) == (413, "o corpo da requisição passa do limite de 100 bytes")


def test_json_nested_too_deep_is_a_400(client):
    reply = client.post("/api/optouts", data="[" * 100_000, content_type="application/json", headers=AUTH)
    assert reply.status_code == 400
    assert "aninhamento" in reply.get_json()["erro"]


@pytest.mark.parametrize("value", [1_900_000_000, "2099-01-31T00:00:00", "31/01/2099", None])
def test_the_booking_date_is_a_yyyy_mm_dd_string(client, value):
    reply = post_json(client, "/portal/api/solicitar-agendamento-async", booking(data_agendamento=value))
    assert reply.status_code == 400
    assert [problem["campo"] for problem in reply.get_json()["erros"]] == ["data_agendamento"]


def frozen_utc(monkeypatch, instant: str) -> None:
    moment = dt.datetime.fromisoformat(instant)
    monkeypatch.setattr(filas.clock, "utcnow", lambda: moment)


def test_the_booking_date_is_checked_against_today_in_fortaleza(client, monkeypatch, redis_url):
    # 02:30 UTC on the 31st is still 23:30 on the 30th in Fortaleza (UTC-3): the 30th is today, not past.
    frozen_utc(monkeypatch, "2030-01-31T02:30:00+00:00")
    today = post_json(client, "/portal/api/solicitar-agendamento-async", booking(data_agendamento="2030-01-30"))
    assert today.status_code == 202, today.get_json()

    # 03:30 UTC is 00:30 on the 31st in Fortaleza: the 30th has passed.
    frozen_utc(monkeypatch, "2030-01-31T03:30:00+00:00")
    past = post_json(client, "/portal/api/solicitar-agendamento-async",
                     booking(lote_id="LOTE-2", data_agendamento="2030-01-30"))
    assert past.status_code == 400
    assert [problem["campo"] for problem in past.get_json()["erros"]] == ["data_agendamento"]
    assert "já passou" in past.get_json()["message"]
    with session_scope() as session:
        assert session.query(Booking).count() == 1
    assert redis.Redis.from_url(redis_url).hlen("dramatiq:atacadao.msgs") == 1
