"""Patient replies and opt-outs arriving as Evolution API webhook events."""

import json

import pytest
from sqlalchemy import select

from filas.db.models import Campaign, Contact, OptOut
from filas.db.session import session_scope
from filas.phones import phone_key

URL = "/api/webhooks/evolution?token=webhook-secret"  # FILAS_WEBHOOK_TOKEN of the `client` fixture


def reply_event(jid: str, text: str, from_me: bool = False) -> dict:
    return {"event": "messages.upsert", "instance": "filas",
            "data": {"key": {"remoteJid": jid, "fromMe": from_me, "id": "ABC"}, "pushName": "Paciente",
                     "message": {"conversation": text}, "messageType": "conversation"}}


def add_campaign(*contacts: tuple[str, str | None]) -> None:
    with session_scope() as session:
        session.add(Campaign(nome="c", mensagem="m", contacts=[
            Contact(nome="p", telefone=telefone, whatsapp_id=jid, whatsapp_status="valido")
            for telefone, jid in contacts]))


def answered() -> dict[str, bool]:
    with session_scope() as session:
        return {c.telefone: c.respondeu_em is not None for c in session.scalars(select(Contact))}


def test_a_reply_marks_the_contact_as_answered_even_by_its_legacy_id(client):
    add_campaign(("5585999990001", "5585999990001@s.whatsapp.net"), ("5585988880002", "558588880002@s.whatsapp.net"))

    reply = client.post(URL, json=reply_event("558588880002@s.whatsapp.net", "Obrigado, vou sim"))

    assert reply.status_code == 200
    assert reply.get_json()["contatos_respondidos"] == 1
    assert answered() == {"5585999990001": False, "5585988880002": True}


def test_sair_is_an_opt_out_of_the_stored_number(client):
    add_campaign(("5585988880002", "558588880002@s.whatsapp.net"))

    client.post(URL, json=reply_event("558588880002@s.whatsapp.net", " sair! "))

    with session_scope() as session:
        assert session.scalars(select(OptOut.telefone_hash)).all() == [phone_key("5585988880002")]


def test_our_own_messages_and_other_events_are_ignored(client):
    add_campaign(("5585999990001", "5585999990001@s.whatsapp.net"))

    assert client.post(URL, json=reply_event("5585999990001@s.whatsapp.net", "oi", from_me=True)).get_json()[
        "ignorado"] is True
    assert client.post(URL, json={"event": "connection.update"}).get_json()["ignorado"] is True
    assert answered() == {"5585999990001": False}


def test_a_wrong_secret_is_a_404(client):
    event = reply_event("x@s.whatsapp.net", "oi")
    assert client.post("/api/webhooks/evolution?token=guess", json=event).status_code == 404
    assert client.post("/api/webhooks/evolution", json=event).status_code == 404


def post_raw(client, data: str):
    return client.post(URL, data=data, content_type="application/json")


def upsert(data) -> dict:
    return {"event": "messages.upsert", "data": data}


@pytest.mark.parametrize("raw, expected", [
    ("não é json", "objeto JSON"),
    ("[1, 2]", "objeto JSON"),
    ('"sair"', "objeto JSON"),
    ("", "objeto JSON"),
    ("[" * 100_000, "aninhamento"),
])
def test_a_body_that_is_not_a_json_object_is_a_400(client, raw, expected):
    reply = post_raw(client, raw)

    assert reply.status_code == 400
    assert reply.get_json()["sucesso"] is False
    assert expected in reply.get_json()["erro"]


@pytest.mark.parametrize("event, field", [
    ({"event": 42}, "event"),
    (upsert([]), "data"),
    (upsert("x"), "data"),
    (upsert({"key": "5585999990001@s.whatsapp.net"}), "data.key"),
    (upsert({"key": {"remoteJid": 5585999990001}}), "data.key.remoteJid"),
    (upsert({"key": {"remoteJid": ["5585999990001@s.whatsapp.net"]}}), "data.key.remoteJid"),
    (upsert({"key": {"remoteJid": "x" * 81}}), "data.key.remoteJid"),
    (upsert({"key": {"remoteJid": "5585999990001@s.whatsapp.net", "fromMe": "talvez"}}), "data.key.fromMe"),
    (upsert({"key": {"remoteJid": "5585999990001@s.whatsapp.net"}, "message": {"conversation": ["sair"]}}),
     "data.message.conversation"),
    (upsert({"key": {"remoteJid": "5585999990001@s.whatsapp.net"}, "message": {"extendedTextMessage": "sair"}}),
     "data.message.extendedTextMessage"),
    (upsert({"key": {"remoteJid": "5585999990001\x00@s.whatsapp.net"}}), "data.key.remoteJid"),
    (upsert({"key": {"remoteJid": "5585999990001@s.whatsapp.net"}, "message": {"conversation": "sair\ud800"}}),
     "data.message.conversation"),
])
def test_wrong_types_in_an_event_are_a_400_naming_the_field(client, event, field):
    add_campaign(("5585999990001", "5585999990001@s.whatsapp.net"))

    reply = post_raw(client, json.dumps(event))

    assert reply.status_code == 400
    body = reply.get_json()
    assert [problem["campo"] for problem in body["erros"]] == [field]
    assert field in body["erro"]
    assert answered() == {"5585999990001": False}


def test_other_events_are_ignored_whatever_their_shape(client):
    for event in ({"event": "contacts.upsert", "data": [{"id": "x"}]}, {"event": None}, {}, {"outro": 1}):
        reply = post_raw(client, json.dumps(event))
        assert (reply.status_code, reply.get_json()["ignorado"]) == (200, True)


def test_sair_from_a_sender_that_is_not_a_phone_number_stores_no_opt_out(client):
    reply = client.post(URL, json=reply_event("120363025246125486@g.us", "sair"))

    assert reply.status_code == 200
    assert reply.get_json()["opt_out"] is True
    with session_scope() as session:
        assert session.scalars(select(OptOut.telefone_hash)).all() == []


def test_sair_twice_at_once_is_one_opt_out(client):
    """Two deliveries of the same reply racing (gateways retry): both answered, one row."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    add_campaign(("5585988880002", "558588880002@s.whatsapp.net"))
    barrier = Barrier(8)

    def deliver(_):
        client_of_thread = client.application.test_client()
        barrier.wait()
        return client_of_thread.post(URL, json=reply_event("558588880002@s.whatsapp.net", "SAIR")).status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(deliver, range(8))) == [200] * 8
    with session_scope() as session:
        assert session.scalars(select(OptOut.telefone_hash)).all() == [phone_key("5585988880002")]
