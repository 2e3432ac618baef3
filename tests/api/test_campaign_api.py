"""The campaign and task contract: create, validate, send, task status and cancel."""

import json

import redis

from filas.db.models import Campaign, CampaignStatus
from filas.db.session import session_scope

AUTH = {"Authorization": "Bearer test-token"}  # accepted by the `client` fixture

CONTACTS = [{"nome": "Maria Souza", "telefone": "(85) 99999-0001"},
            {"nome": "José Lima", "telefone": "+55 85 98888-0002"}]


def create_campaign(client, contacts=CONTACTS):
    reply = client.post("/api/campanhas", json={"nome": "Busca ativa", "mensagem": "Olá!", "contatos": contacts},
                        headers=AUTH)
    assert reply.status_code == 201, reply.get_json()
    return reply.get_json()["campanha"]


def test_creating_a_campaign_normalises_the_numbers(client):
    campaign = create_campaign(client)

    assert campaign["status"] == "rascunho"
    assert campaign["contatos"] == 2
    assert campaign["whatsapp"] == {"validos": 0, "invalidos": 0, "pendentes": 2}
    fetched = client.get(f"/api/campanhas/{campaign['id']}", headers=AUTH).get_json()
    assert fetched["sucesso"] is True and fetched["campanha"]["id"] == campaign["id"]


def test_an_invalid_or_repeated_number_is_a_400_naming_the_contact(client):
    bad = client.post("/api/campanhas", json={"nome": "x", "mensagem": "y", "contatos": [
        CONTACTS[0], {"nome": "Ana", "telefone": "123"}]}, headers=AUTH)
    assert bad.status_code == 400
    assert bad.get_json()["sucesso"] is False
    assert [p["campo"] for p in bad.get_json()["erros"]] == ["contatos.1.telefone"]

    repeated = client.post("/api/campanhas", json={"nome": "x", "mensagem": "y", "contatos": [
        CONTACTS[0], {"nome": "Outra", "telefone": "85999990001"}]}, headers=AUTH)
    assert repeated.status_code == 400
    assert "contatos[1].telefone" in repeated.get_json()["erro"]


def test_starting_a_validation_returns_a_task_and_queues_it(client, redis_url):
    campaign = create_campaign(client)

    reply = client.post(f"/api/campanhas/{campaign['id']}/validar", headers=AUTH)

    assert reply.status_code == 202
    body = reply.get_json()
    assert body["sucesso"] is True
    assert body["status_url"].endswith(f"/api/task/{body['task_id']}/status")
    [message] = [json.loads(m) for m in redis.Redis.from_url(redis_url).hvals("dramatiq:campaigns.msgs")]
    assert (message["message_id"], message["actor_name"]) == (body["task_id"], "campaigns.validate_numbers")
    status = client.get(f"/api/task/{body['task_id']}/status", headers=AUTH).get_json()
    assert (status["sucesso"], status["status"], status["tipo"]) == (True, "queued", "campaigns.validate_numbers")
    assert client.post(f"/api/campanhas/{campaign['id']}/validar", headers=AUTH).status_code == 409


def test_sending_before_validating_is_refused(client):
    campaign = create_campaign(client)
    reply = client.post(f"/api/campanhas/{campaign['id']}/enviar", headers=AUTH)
    assert reply.status_code == 409
    assert "valide" in reply.get_json()["erro"]


def test_cancelling_a_queued_task_puts_the_campaign_back(client):
    campaign = create_campaign(client)
    task_id = client.post(f"/api/campanhas/{campaign['id']}/validar", headers=AUTH).get_json()["task_id"]

    reply = client.post(f"/api/task/{task_id}/cancel", headers=AUTH)

    assert reply.status_code == 200
    assert reply.get_json()["status"] == "cancelled"
    assert client.get(f"/api/task/{task_id}/status", headers=AUTH).get_json()["status"] == "cancelled"
    with session_scope() as session:
        assert session.get(Campaign, campaign["id"]).status == CampaignStatus.DRAFT
    assert client.post(f"/api/task/{task_id}/cancel", headers=AUTH).status_code == 409


def test_unknown_task_is_a_404(client):
    assert client.get("/api/task/nope/status", headers=AUTH).status_code == 404
    assert client.post("/api/task/nope/cancel", headers=AUTH).status_code == 404
    assert client.get("/api/campanhas/424242", headers=AUTH).status_code == 404


def test_an_opt_out_is_recorded_once(client):
    first = client.post("/api/optouts", json={"telefone": "(85) 99999-0001", "motivo": "pediu"}, headers=AUTH)
    again = client.post("/api/optouts", json={"telefone": "85999990001"}, headers=AUTH)
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.get_json()["telefone"] == "5585999990001"
