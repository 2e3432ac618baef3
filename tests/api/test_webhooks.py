"""Patient replies, opt-outs and delivery statuses arriving as Evolution API webhook events, authenticated by
the header Evolution sends from its webhook configuration (the query string's token as a fallback)."""

import json

import httpx
import pytest
from sqlalchemy import select
from waiting import wait_for

from filas.db.models import Campaign, CampaignMessage, Contact, OptOut
from filas.db.session import session_scope
from filas.phones import phone_key
from filas_simulators import whatsapp
from filas_simulators.serving import serve_in_thread

URL = "/api/webhooks/evolution"
AUTH = {"Authorization": "Bearer webhook-secret"}  # FILAS_WEBHOOK_TOKEN of the `client` fixture


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

    reply = client.post(URL, headers=AUTH, json=reply_event("558588880002@s.whatsapp.net", "Obrigado, vou sim"))

    assert reply.status_code == 200
    assert reply.get_json()["contatos_respondidos"] == 1
    assert answered() == {"5585999990001": False, "5585988880002": True}


def test_sair_is_an_opt_out_of_the_stored_number(client):
    add_campaign(("5585988880002", "558588880002@s.whatsapp.net"))

    client.post(URL, headers=AUTH, json=reply_event("558588880002@s.whatsapp.net", " sair! "))

    with session_scope() as session:
        assert session.scalars(select(OptOut.telefone_hash)).all() == [phone_key("5585988880002")]


def test_our_own_messages_and_other_events_are_ignored(client):
    add_campaign(("5585999990001", "5585999990001@s.whatsapp.net"))

    ours = reply_event("5585999990001@s.whatsapp.net", "oi", from_me=True)
    assert client.post(URL, headers=AUTH, json=ours).get_json()["ignorado"] is True
    assert client.post(URL, headers=AUTH, json={"event": "connection.update"}).get_json()["ignorado"] is True
    assert answered() == {"5585999990001": False}


def test_without_the_secret_a_401_and_with_a_wrong_one_a_403_and_nothing_is_written(client):
    add_campaign(("5585999990001", "5585999990001@s.whatsapp.net"))
    event = reply_event("5585999990001@s.whatsapp.net", "sair")

    missing = client.post(URL, json=event)
    wrong_header = client.post(URL, json=event, headers={"Authorization": "Bearer guess"})
    wrong_query = client.post(f"{URL}?token=guess", json=event)
    other_scheme = client.post(URL, json=event, headers={"Authorization": "Basic webhook-secret"})

    assert (missing.status_code, wrong_header.status_code, wrong_query.status_code) == (401, 403, 403)
    assert other_scheme.status_code == 401  # only a bearer token is read
    assert "Authorization: Bearer" in missing.get_json()["erro"]
    assert answered() == {"5585999990001": False}
    with session_scope() as session:
        assert session.scalars(select(OptOut.telefone_hash)).all() == []


def test_the_query_string_token_is_accepted_as_a_fallback(client):
    add_campaign(("5585999990001", "5585999990001@s.whatsapp.net"))

    reply = client.post(f"{URL}?token=webhook-secret", json=reply_event("5585999990001@s.whatsapp.net", "oi"))

    assert reply.status_code == 200
    assert answered() == {"5585999990001": True}


def test_either_the_header_or_the_query_string_carrying_the_secret_is_enough(client):
    event = reply_event("5585999990001@s.whatsapp.net", "oi")
    assert client.post(f"{URL}?token=webhook-secret", json=event,
                       headers={"Authorization": "Bearer another-service-token"}).status_code == 200
    assert client.post(f"{URL}?token=guess", json=event, headers=AUTH).status_code == 200
    assert client.post(f"{URL}?token=guess", json=event, headers={"Authorization": "Bearer guess"}).status_code == 403


def test_without_a_configured_secret_every_event_is_refused(configure, client):
    configure(FILAS_WEBHOOK_TOKEN="")
    from filas_api.app import create_app

    reply = create_app().test_client().post(URL, json=reply_event("x@s.whatsapp.net", "oi"),
                                            headers={"Authorization": "Bearer "})

    assert reply.status_code == 403
    assert "FILAS_WEBHOOK_TOKEN" in reply.get_json()["erro"]


def post_raw(client, data: str):
    return client.post(URL, data=data, content_type="application/json", headers=AUTH)


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
    reply = client.post(URL, headers=AUTH, json=reply_event("120363025246125486@g.us", "sair"))

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
        event = reply_event("558588880002@s.whatsapp.net", "SAIR")
        return client_of_thread.post(URL, headers=AUTH, json=event).status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(deliver, range(8))) == [200] * 8
    with session_scope() as session:
        assert session.scalars(select(OptOut.telefone_hash)).all() == [phone_key("5585988880002")]


# --- delivery statuses (messages.update) ------------------------------------------------------------


def status_event(key_id: str, status: str, from_me: bool = True, jid: str = "5585999990001@s.whatsapp.net") -> dict:
    """As Evolution v2 posts it (Baileys channel): the key's id as keyId, its own row id as messageId."""
    return {"event": "messages.update", "instance": "filas",
            "data": {"messageId": "cmabc", "keyId": key_id, "remoteJid": jid, "fromMe": from_me, "participant": jid,
                     "status": status, "instanceId": "i-1"}}


def add_sent_message(gateway_message_id: str, telefone: str = "5585999990001") -> int:
    with session_scope() as session:
        contact = Contact(nome="p", telefone=telefone, whatsapp_id=f"{telefone}@s.whatsapp.net",
                          whatsapp_status="valido")
        session.add(Campaign(nome="c", mensagem="m", contacts=[contact]))
        session.flush()
        message = CampaignMessage(campaign_id=contact.campaign_id, contact_id=contact.id, tipo="inicial",
                                  status="enviada", gateway_message_id=gateway_message_id)
        session.add(message)
        session.flush()
        return message.id


def delivery(message_id: int) -> tuple[str | None, str | None, bool]:
    with session_scope() as session:
        message = session.get(CampaignMessage, message_id)
        return message.entrega, message.erro, message.entrega_em is not None


@pytest.mark.parametrize("status, entrega", [
    ("SERVER_ACK", "enviada"), ("DELIVERY_ACK", "entregue"), ("READ", "lida"), ("PLAYED", "lida"),
    ("ERROR", "falhou"),
])
def test_a_status_update_records_the_delivery(client, status, entrega):
    message_id = add_sent_message("3EB0AAA")

    reply = client.post(URL, headers=AUTH, json=status_event("3EB0AAA", status))

    assert (reply.status_code, reply.get_json()["atualizada"]) == (200, True)
    assert delivery(message_id)[0] == entrega
    assert delivery(message_id)[2]
    if status == "ERROR":
        assert "ERROR" in delivery(message_id)[1]


def test_statuses_never_move_backwards(client):
    message_id = add_sent_message("3EB0AAA")

    for status in ("READ", "DELIVERY_ACK", "SERVER_ACK", "ERROR"):
        client.post(URL, headers=AUTH, json=status_event("3EB0AAA", status))

    assert delivery(message_id)[:2] == ("lida", None)


def test_statuses_of_unknown_or_incoming_messages_and_pending_ones_change_nothing(client):
    message_id = add_sent_message("3EB0AAA")

    for event in (status_event("3EB0AAA", "DELIVERY_ACK", from_me=False), status_event("3EB0AAA", "PENDING"),
                  status_event("3EB0AAA", "DELETED"), status_event("unknown", "READ")):
        reply = client.post(URL, headers=AUTH, json=event)
        assert reply.status_code == 200
        assert reply.get_json().get("ignorado") or reply.get_json().get("atualizada") is False

    assert delivery(message_id) == (None, None, False)


def test_an_evolution_v1_status_update_names_the_message_by_id(client):
    message_id = add_sent_message("3EB0AAA")
    event = {"event": "messages.update", "data": {"id": "3EB0AAA", "remoteJid": "x@s.whatsapp.net", "fromMe": True,
                                                  "status": "DELIVERY_ACK", "datetime": 1_700_000_000_000}}

    assert client.post(URL, headers=AUTH, json=event).status_code == 200
    assert delivery(message_id)[0] == "entregue"


@pytest.mark.parametrize("data, field", [
    ({"keyId": 5, "fromMe": True, "status": "READ"}, "data.keyId"),
    ({"keyId": "x" * 121, "fromMe": True, "status": "READ"}, "data.keyId"),
    ({"keyId": "3EB0AAA", "fromMe": True, "status": 4}, "data.status"),
    ({"keyId": "3EB0AAA", "fromMe": True, "status": "READ", "timestamp": 10**15}, "data.timestamp"),
    ({"keyId": "3EB0AAA", "fromMe": "sim", "status": "READ"}, "data.fromMe"),
])
def test_a_malformed_status_update_is_a_400_naming_the_field(client, data, field):
    message_id = add_sent_message("3EB0AAA")

    reply = post_raw(client, json.dumps({"event": "messages.update", "data": data}))

    assert reply.status_code == 400
    assert [problem["campo"] for problem in reply.get_json()["erros"]] == [field]
    assert delivery(message_id) == (None, None, False)


# --- end to end, from the Evolution simulator over HTTP ----------------------------------------------


def test_the_simulators_webhooks_arrive_with_the_configured_header(client):
    """The Evolution simulator posts with webhook_headers, as Evolution v2 does with its webhook config's."""
    evolution_key = "sim-key"
    with serve_in_thread(client.application) as api, \
            serve_in_thread(whatsapp.create_app(evolution_key, "filas")) as simulator, \
            httpx.Client(base_url=simulator.url, timeout=10) as sim:
        sim.post("/_sim/config", json={"webhook_url": f"{api.url}{URL}", "webhook_headers": AUTH}).raise_for_status()
        add_campaign(("5585999990001", "5585999990001@s.whatsapp.net"))
        sim.post("/message/sendText/filas", json={"number": "5585999990001", "text": "Olá"},
                 headers={"apikey": evolution_key}).raise_for_status()
        wait_for(lambda: len(sim.get("/_sim/webhooks").json()) == 3, 10, "the send's three status webhooks")
        reply = sim.post("/_sim/reply", json={"number": "5585999990001", "text": "Sair"}).json()
        deliveries = sim.get("/_sim/webhooks").json()

    assert [d["event"] for d in deliveries] == ["send.message", "messages.update", "messages.update",
                                                "messages.upsert"]
    assert [d["status"] for d in deliveries] == [200] * 4, deliveries
    assert reply["webhook"]["body"]["opt_out"] is True
    assert answered() == {"5585999990001": True}
    with session_scope() as session:
        assert session.scalars(select(OptOut.telefone_hash)).all() == [phone_key("5585999990001")]
