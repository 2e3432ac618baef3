"""The WhatsApp Cloud API webhook: Meta's verification handshake, signed events only, delivery statuses
(including a send cut off mid-request, resolved by the biz_opaque_callback_data it carried), undeliverable
numbers, replies and opt-outs; and the Cloud API simulator's own signed webhooks, end to end over HTTP."""

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from waiting import wait_for

from filas.db.models import Campaign, CampaignMessage, Contact, OptOut
from filas.db.session import session_scope
from filas.phones import phone_key
from filas_campaigns.gateways import MetaCloudGateway, OutgoingMessage
from filas_simulators import meta_cloud
from filas_simulators.serving import serve_in_thread

URL = "/api/webhooks/meta"
APP_SECRET = "meta-app-secret"
VERIFY_TOKEN = "meta-verify-token"
PHONE_NUMBER_ID = "106540352242922"
ACCESS_TOKEN = "meta-access-token"
PATIENT = "5585999990001"
LEGACY_PATIENT = "5585988880002"  # WhatsApp knows it as 558588880002


@pytest.fixture
def meta_app(configure, redis_url: str, database_url: str) -> Callable[..., FlaskClient]:
    """The API configured for the Cloud API; keyword arguments change its FILAS_* settings."""

    def build(**settings: str) -> FlaskClient:
        configure(**{"FILAS_REDIS_URL": redis_url, "FILAS_DATABASE_URL": database_url,
                     "FILAS_API_TOKENS": "test-token", "FILAS_META_APP_SECRET": APP_SECRET,
                     "FILAS_META_VERIFY_TOKEN": VERIFY_TOKEN, "FILAS_META_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
                     **settings})
        from filas_api.app import create_app

        return create_app().test_client()

    return build


@pytest.fixture
def client(meta_app) -> FlaskClient:
    return meta_app()


def signature_of(raw: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def signed_post(client: FlaskClient, event: Any, secret: str = APP_SECRET, raw: bytes | None = None):
    body = raw if raw is not None else json.dumps(event).encode()
    return client.post(URL, data=body, content_type="application/json",
                       headers={"X-Hub-Signature-256": signature_of(body, secret)})


def envelope(value: dict[str, Any], phone_number_id: str = PHONE_NUMBER_ID, field: str = "messages") -> dict:
    metadata = {"display_phone_number": "558540040000", "phone_number_id": phone_number_id}
    return {"object": "whatsapp_business_account", "entry": [{"id": "200000000000002", "changes": [
        {"value": {"messaging_product": "whatsapp", "metadata": metadata, **value}, "field": field}]}]}


def status(wamid: str, state: str, reference: str | None = None, error_code: int | None = None) -> dict:
    entry: dict[str, Any] = {"id": wamid, "status": state, "timestamp": "1750857384", "recipient_id": PATIENT}
    if reference is not None:
        entry["biz_opaque_callback_data"] = reference
    if error_code is not None:
        entry["errors"] = [{"code": error_code, "title": "Message undeliverable", "message": "Message undeliverable",
                            "error_data": {"details": "Message Undeliverable."}}]
    return envelope({"statuses": [entry]})


def inbound(wa_id: str, text: str) -> dict:
    return envelope({"contacts": [{"profile": {"name": "Maria"}, "wa_id": wa_id}],
                     "messages": [{"from": wa_id, "id": "wamid.IN", "timestamp": "1750857384", "type": "text",
                                   "text": {"body": text}}]})


def add_message(telefone: str = PATIENT, status: str = "enviada", wamid: str | None = "wamid.A") -> int:
    with session_scope() as session:
        contact = Contact(nome="p", telefone=telefone, whatsapp_status="valido")
        session.add(Campaign(nome="c", mensagem="m", contacts=[contact]))
        session.flush()
        message = CampaignMessage(campaign_id=contact.campaign_id, contact_id=contact.id, tipo="inicial",
                                  status=status, gateway_message_id=wamid)
        session.add(message)
        session.flush()
        return message.id


def message_row(message_id: int) -> dict[str, Any]:
    with session_scope() as session:
        message = session.get(CampaignMessage, message_id)
        return {"status": message.status, "gateway_message_id": message.gateway_message_id,
                "entrega": message.entrega, "erro": message.erro, "enviado_em": message.enviado_em,
                "entrega_em": message.entrega_em, "whatsapp_status": message.contact.whatsapp_status}


def contacts() -> dict[str, tuple[bool, str]]:
    with session_scope() as session:
        return {c.telefone: (c.respondeu_em is not None, c.whatsapp_status) for c in session.scalars(select(Contact))}


def opt_outs() -> list[str]:
    with session_scope() as session:
        return session.scalars(select(OptOut.telefone_hash)).all()


# --- verification -----------------------------------------------------------------------------


def test_verification_echoes_the_challenge_as_text(client) -> None:
    reply = client.get(URL, query_string={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN,
                                          "hub.challenge": "1158201444"})

    assert reply.status_code == 200
    assert reply.mimetype == "text/plain"
    assert reply.get_data(as_text=True) == "1158201444"


@pytest.mark.parametrize("query", [
    {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"},
    {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
    {"hub.challenge": "1"},
])
def test_verification_with_a_wrong_token_or_mode_is_a_403(client, query) -> None:
    reply = client.get(URL, query_string=query)

    assert reply.status_code == 403
    assert "hub.verify_token" in reply.get_json()["erro"]


def test_verification_without_a_challenge_is_a_400(client) -> None:
    reply = client.get(URL, query_string={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN})
    assert reply.status_code == 400


def test_verification_is_refused_when_no_verify_token_is_configured(meta_app) -> None:
    reply = meta_app(FILAS_META_VERIFY_TOKEN="").get(URL, query_string={"hub.mode": "subscribe",
                                                                       "hub.verify_token": "", "hub.challenge": "1"})
    assert reply.status_code == 403
    assert "FILAS_META_VERIFY_TOKEN" in reply.get_json()["erro"]


# --- signatures -------------------------------------------------------------------------------


def test_only_a_body_signed_with_the_app_secret_is_read(client) -> None:
    message_id = add_message()
    event = status("wamid.A", "delivered")
    raw = json.dumps(event).encode()

    unsigned = client.post(URL, data=raw, content_type="application/json")
    other_secret = signed_post(client, event, secret="another-secret")
    altered = client.post(URL, data=raw.replace(b"delivered", b"read"), content_type="application/json",
                          headers={"X-Hub-Signature-256": signature_of(raw)})
    malformed = client.post(URL, data=raw, content_type="application/json", headers={"X-Hub-Signature-256": "abc"})

    assert unsigned.status_code == 401 and "X-Hub-Signature-256" in unsigned.get_json()["erro"]
    assert [r.status_code for r in (other_secret, altered, malformed)] == [403, 403, 403]
    assert message_row(message_id)["entrega"] is None  # nothing written

    assert signed_post(client, event).status_code == 200
    assert message_row(message_id)["entrega"] == "entregue"


def test_without_a_configured_app_secret_every_event_is_refused(meta_app) -> None:
    reply = signed_post(meta_app(FILAS_META_APP_SECRET=""), status("wamid.A", "sent"), secret="")

    assert reply.status_code == 403
    assert "FILAS_META_APP_SECRET" in reply.get_json()["erro"]


def test_the_signature_is_checked_before_the_body_is_read(client) -> None:
    assert client.post(URL, data="não é json", content_type="application/json").status_code == 401
    assert signed_post(client, None, raw=b"nao e json").status_code == 400


# --- statuses ---------------------------------------------------------------------------------


def test_statuses_update_the_delivery_and_never_move_backwards(client) -> None:
    message_id = add_message()

    answers = [signed_post(client, status("wamid.A", state)).get_json() for state in ("sent", "delivered")]
    assert message_row(message_id)["entrega"] == "entregue"
    for state in ("read", "delivered", "sent", "failed"):
        signed_post(client, status("wamid.A", state, error_code=131026 if state == "failed" else None))

    row = message_row(message_id)
    assert (row["entrega"], row["status"], row["erro"], row["whatsapp_status"]) == ("lida", "enviada", None, "valido")
    assert row["entrega_em"].timestamp() == 1750857384
    assert [a["entregas"] for a in answers] == [1, 1]


def test_a_status_naming_a_row_still_sending_resolves_it(client) -> None:
    """A worker cut off mid-send left the row 'enviando' without the gateway's id: the status's
    biz_opaque_callback_data (our message id, which the send carried) names it."""
    message_id = add_message(status="enviando", wamid=None)

    reply = signed_post(client, status("wamid.CUT", "sent", reference=str(message_id)))

    assert reply.get_json()["entregas"] == 1
    row = message_row(message_id)
    assert (row["status"], row["gateway_message_id"], row["entrega"]) == ("enviada", "wamid.CUT", "enviada")
    assert row["enviado_em"].timestamp() == 1750857384


def test_a_reference_never_takes_over_a_row_already_sent_or_another_gateways_id(client) -> None:
    sent_id = add_message(wamid="wamid.A")

    for reference in (str(sent_id), "not-a-row", "99999999999999", "0"):
        assert signed_post(client, status("wamid.OTHER", "delivered", reference=reference)).status_code == 200

    row = message_row(sent_id)
    assert (row["gateway_message_id"], row["entrega"]) == ("wamid.A", None)


def test_an_undeliverable_number_fails_the_message_and_marks_the_contact_invalid(client) -> None:
    message_id = add_message()
    signed_post(client, status("wamid.A", "sent"))

    signed_post(client, status("wamid.A", "failed", error_code=131026))

    row = message_row(message_id)
    assert (row["entrega"], row["status"], row["whatsapp_status"]) == ("falhou", "falhou", "invalido")
    assert "131026" in row["erro"] and "Undeliverable" in row["erro"]


def test_another_failure_is_recorded_without_judging_the_number(client) -> None:
    message_id = add_message()

    signed_post(client, status("wamid.A", "failed", error_code=131049))

    row = message_row(message_id)
    assert (row["entrega"], row["status"], row["whatsapp_status"]) == ("falhou", "enviada", "valido")
    assert "131049" in row["erro"]


def test_other_numbers_fields_and_objects_are_ignored(client) -> None:
    message_id = add_message()

    answers = [
        signed_post(client, envelope({"statuses": status("wamid.A", "read")["entry"][0]["changes"][0]["value"][
            "statuses"]}, phone_number_id="999")).get_json(),
        signed_post(client, {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
            {"field": "message_template_status_update", "value": {"event": "APPROVED"}}]}]}).get_json(),
        signed_post(client, {"object": "page", "entry": [{"whatever": 1}]}).get_json(),
        signed_post(client, status("wamid.A", "deleted")).get_json(),
    ]

    assert [a["ignorados"] for a in answers] == [1, 1, 0, 1]
    assert message_row(message_id)["entrega"] is None


@pytest.mark.parametrize("event, field", [
    ({"object": "whatsapp_business_account", "entry": "x"}, "entry"),
    (envelope({"statuses": [{"id": 5, "status": "sent"}]}), "entry.0.changes.0.value.statuses.0.id"),
    (envelope({"statuses": [{"id": "w" * 121, "status": "sent"}]}), "entry.0.changes.0.value.statuses.0.id"),
    (envelope({"statuses": [{"id": "wamid.A"}]}), "entry.0.changes.0.value.statuses.0.status"),
    (envelope({"statuses": [{"id": "wamid.A", "status": "sent", "timestamp": "ontem"}]}),
     "entry.0.changes.0.value.statuses.0.timestamp"),
    (envelope({"statuses": [{"id": "wamid.A", "status": "sent", "biz_opaque_callback_data": "x" * 513}]}),
     "entry.0.changes.0.value.statuses.0.biz_opaque_callback_data"),
    (envelope({"messages": [{"id": "wamid.IN", "text": {"body": "oi"}}]}), "entry.0.changes.0.value.messages.0.from"),
    (envelope({"messages": [{"from": PATIENT, "text": {"body": ["sair"]}}]}),
     "entry.0.changes.0.value.messages.0.text.body"),
    (envelope({"messages": [{"from": PATIENT, "text": {"body": "sair\x00"}}]}),
     "entry.0.changes.0.value.messages.0.text.body"),
])
def test_a_malformed_event_is_a_400_naming_the_field(client, event, field) -> None:
    message_id = add_message()

    reply = signed_post(client, event)

    assert reply.status_code == 400
    assert [problem["campo"] for problem in reply.get_json()["erros"]] == [field]
    assert message_row(message_id)["entrega"] is None
    assert contacts() == {PATIENT: (False, "valido")}


# --- replies ----------------------------------------------------------------------------------


def test_a_reply_marks_the_contact_answered_even_by_its_legacy_wa_id(client) -> None:
    add_message(PATIENT)
    add_message(LEGACY_PATIENT, wamid="wamid.B")

    reply = signed_post(client, inbound("558588880002", "Obrigado, estarei lá"))

    assert reply.get_json()["respostas"] == 1
    assert contacts() == {PATIENT: (False, "valido"), LEGACY_PATIENT: (True, "valido")}
    assert opt_outs() == []


def test_a_quick_reply_button_is_read_as_the_reply(client) -> None:
    add_message(PATIENT)
    event = envelope({"messages": [{"from": PATIENT, "id": "wamid.IN", "timestamp": "1", "type": "button",
                                    "button": {"payload": "stop", "text": "Sair"}}]})

    signed_post(client, event)

    assert opt_outs() == [phone_key(PATIENT)]


def test_the_opt_out_words_come_from_the_settings(meta_app) -> None:
    client = meta_app(FILAS_OPT_OUT_WORDS="PARE, NÃO QUERO MAIS")
    add_message(PATIENT)
    add_message(LEGACY_PATIENT, wamid="wamid.B")

    signed_post(client, inbound(PATIENT, "sair"))  # a default word, not in this list
    assert opt_outs() == []

    signed_post(client, inbound("558588880002", "  nao   quero mais! "))  # case, accents and spaces ignored
    assert opt_outs() == [phone_key(LEGACY_PATIENT)]
    assert contacts() == {PATIENT: (True, "valido"), LEGACY_PATIENT: (True, "valido")}


# --- end to end: the Cloud API simulator's own webhooks ---------------------------------------


@pytest.fixture
def cloud(client):
    """The API on a real port and the Cloud API simulator posting its signed webhooks to it."""
    with serve_in_thread(client.application) as api, \
            serve_in_thread(meta_cloud.create_app(ACCESS_TOKEN, PHONE_NUMBER_ID, app_secret=APP_SECRET)) as sim, \
            httpx.Client(base_url=sim.url, timeout=10) as control, \
            MetaCloudGateway(sim.url, ACCESS_TOKEN, PHONE_NUMBER_ID) as gateway:
        control.post("/_sim/config", json={"webhook_url": f"{api.url}{URL}"}).raise_for_status()
        yield gateway, control


def test_the_simulators_signed_statuses_resolve_a_send_cut_off_mid_request(cloud) -> None:
    gateway, control = cloud
    message_id = add_message(status="enviando", wamid=None)  # claimed; the worker dies before recording the send

    sent = gateway.send_message(PATIENT, OutgoingMessage("oi", template="lembrete", reference=str(message_id)))

    wait_for(lambda: message_row(message_id)["entrega"] == "entregue", 10, "the delivered status applied",
             lambda: control.get("/_sim/webhooks").json())
    row = message_row(message_id)
    assert (row["status"], row["gateway_message_id"]) == ("enviada", sent.gateway_message_id)
    assert [(w["what"], w["status"]) for w in control.get("/_sim/webhooks").json()] == [
        ("status sent", 200), ("status delivered", 200)]


def test_the_simulators_undeliverable_status_marks_the_number_invalid(cloud) -> None:
    gateway, control = cloud
    control.post("/_sim/config", json={"undeliverable": [PATIENT]}).raise_for_status()
    message_id = add_message(status="enviando", wamid=None)

    gateway.send_message(PATIENT, OutgoingMessage("oi", template="lembrete", reference=str(message_id)))

    wait_for(lambda: message_row(message_id)["status"] == "falhou", 10, "the failed status applied",
             lambda: control.get("/_sim/webhooks").json())
    assert message_row(message_id)["whatsapp_status"] == "invalido"


def test_the_simulators_reply_reaches_the_api_signed(cloud) -> None:
    _, control = cloud
    control.post("/_sim/config", json={"legacy_numbers": [LEGACY_PATIENT]}).raise_for_status()
    add_message(LEGACY_PATIENT)

    answer = control.post("/_sim/reply", json={"number": LEGACY_PATIENT, "text": "SAIR"}).json()

    assert answer["webhook"] == {"status": 200, "body": {"sucesso": True, "entregas": 0, "respostas": 1,
                                                         "ignorados": 0}}
    assert contacts() == {LEGACY_PATIENT: (True, "valido")}
    assert opt_outs() == [phone_key(LEGACY_PATIENT)]


def test_a_simulator_with_another_app_secret_is_refused(cloud) -> None:
    gateway, control = cloud
    control.post("/_sim/config", json={"app_secret": "not-ours"}).raise_for_status()
    message_id = add_message(status="enviando", wamid=None)

    gateway.send_message(PATIENT, OutgoingMessage("oi", template="lembrete", reference=str(message_id)))

    wait_for(lambda: control.get("/_sim/webhooks").json(), 10, "a status webhook posted")
    assert control.get("/_sim/webhooks").json()[0]["status"] == 403
    assert message_row(message_id)["status"] == "enviando"
