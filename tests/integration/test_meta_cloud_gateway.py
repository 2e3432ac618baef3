"""MetaCloudGateway against the Cloud API simulator: a real HTTP server on a free localhost port."""

import hashlib
import hmac
import json
import pickle
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from flask import Flask, jsonify, request
from sim_control import configure, free_port, refused_start, simulator_process
from waiting import wait_for

from filas.settings import Settings
from filas_campaigns.gateways import (
    GatewayPermanentError,
    GatewayTransientError,
    LookupUnsupported,
    MetaCloudGateway,
    NumberStatus,
    OutgoingMessage,
    RecipientRejected,
    WhatsAppGateway,
    build_gateway,
    gateway_from_settings,
)
from filas_simulators.meta_cloud import ACCESS_TOKEN_ENV, APP_SECRET_ENV, SimulatorState, create_app
from filas_simulators.serving import LocalServer, serve_in_thread

TOKEN = "test-meta-token"
APP_SECRET = "test-app-secret"
PHONE_NUMBER_ID = "106540352242922"
VERSION = "v21.0"

PATIENT = "5585999990001"
LEGACY = "5585999990003"  # WhatsApp knows it as 558599990003 (no 9th digit)
TEMPLATE = OutgoingMessage("Olá, Maria!", template="lembrete_consulta", language="pt_BR",
                           parameters=("Maria", "27/08"), reference="42")


# --- helpers ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def simulator() -> Iterator[LocalServer]:
    with serve_in_thread(create_app(TOKEN, PHONE_NUMBER_ID, app_secret=APP_SECRET)) as server:
        yield server


@pytest.fixture
def gateway(simulator: LocalServer, sim: httpx.Client) -> Iterator[MetaCloudGateway]:
    with MetaCloudGateway(simulator.url, TOKEN, PHONE_NUMBER_ID, VERSION, timeout=5.0) as gw:
        yield gw


@pytest.fixture
def receiver() -> Iterator[tuple[LocalServer, list[dict[str, Any]]]]:
    """A webhook receiver that keeps each request's raw body and signature."""
    received: list[dict[str, Any]] = []
    app = Flask("webhook-receiver")

    @app.post("/webhook")
    def webhook() -> Any:
        received.append({"raw": request.get_data(), "signature": request.headers.get("X-Hub-Signature-256")})
        return jsonify(ok=True)

    with serve_in_thread(app) as server:
        yield server, received


def signed_by(raw: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def statuses_of(received: list[dict[str, Any]]) -> list[dict[str, Any]]:
    events = [json.loads(item["raw"]) for item in received]
    return [status for event in events for change in event["entry"][0]["changes"]
            for status in change["value"].get("statuses", [])]


def send_failing(gateway: MetaCloudGateway, sim: httpx.Client, **failure: Any) -> BaseException:
    configure(sim, fail_next_sends=1, **failure)
    with pytest.raises((GatewayTransientError, GatewayPermanentError)) as caught:
        gateway.send_message(PATIENT, TEMPLATE)
    return caught.value


# --- what the gateway can do ------------------------------------------------------------------


def test_capabilities_say_what_the_cloud_api_cannot_do(gateway: MetaCloudGateway) -> None:
    assert isinstance(gateway, WhatsAppGateway)
    assert (gateway.checks_numbers, gateway.looks_up_sends) == (False, False)
    assert gateway.sender == f"meta:{PHONE_NUMBER_ID}"
    assert gateway.default_rate_per_second == 80.0


def test_check_numbers_asks_nothing_and_takes_every_well_formed_number(gateway, sim) -> None:
    assert gateway.check_numbers([PATIENT, "+5585988880002", "not-a-number"]) == [
        NumberStatus(PATIENT, True, None),
        NumberStatus("+5585988880002", True, None),
        NumberStatus("not-a-number", False, None),
    ]
    assert sim.get("/_sim/messages").json() == []


def test_find_sent_is_unsupported(gateway: MetaCloudGateway) -> None:
    with pytest.raises(LookupUnsupported, match="biz_opaque_callback_data"):
        gateway.find_sent(PATIENT, TEMPLATE, datetime.now(UTC))


# --- sending ----------------------------------------------------------------------------------


def test_a_template_goes_in_the_cloud_api_shape(gateway: MetaCloudGateway, sim: httpx.Client) -> None:
    before = datetime.now(UTC).timestamp()

    sent = gateway.send_message(PATIENT, TEMPLATE)

    [recorded] = sim.get("/_sim/messages").json()
    assert recorded["payload"] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": PATIENT,
        "type": "template",
        "template": {"name": "lembrete_consulta", "language": {"code": "pt_BR"},
                     "components": [{"type": "body", "parameters": [{"type": "text", "text": "Maria"},
                                                                    {"type": "text", "text": "27/08"}]}]},
        "biz_opaque_callback_data": "42",
    }
    assert sent.gateway_message_id == recorded["id"] and sent.gateway_message_id.startswith("wamid.")
    assert sent.whatsapp_id == PATIENT
    assert recorded["at"] >= before


def test_a_template_without_parameters_has_no_components(gateway: MetaCloudGateway, sim: httpx.Client) -> None:
    gateway.send_message(PATIENT, OutgoingMessage("oi", template="boas_vindas"))

    [recorded] = sim.get("/_sim/messages").json()
    assert recorded["payload"]["template"] == {"name": "boas_vindas", "language": {"code": "pt_BR"}}
    assert "biz_opaque_callback_data" not in recorded["payload"]


def test_a_legacy_number_is_answered_with_its_wa_id(gateway: MetaCloudGateway, sim: httpx.Client) -> None:
    configure(sim, legacy_numbers=[LEGACY])

    assert gateway.send_message(LEGACY, TEMPLATE).whatsapp_id == "558599990003"


def test_text_is_refused_outside_the_24_hour_window_and_sent_inside_it(gateway, sim) -> None:
    text = OutgoingMessage("Podemos confirmar sua consulta?", reference="7")

    with pytest.raises(RecipientRejected) as caught:
        gateway.send_message(PATIENT, text)
    assert "131047" in str(caught.value) and "template" in str(caught.value)
    assert PATIENT not in str(caught.value)  # masked: safe to show and log
    assert caught.value.number == PATIENT
    assert sim.get("/_sim/messages").json() == []

    sim.post("/_sim/reply", json={"number": PATIENT, "text": "oi"})  # the patient writes: the window opens
    sent = gateway.send_message(PATIENT, text)

    [recorded] = sim.get("/_sim/messages").json()
    assert recorded["id"] == sent.gateway_message_id
    assert recorded["payload"]["type"] == "text"
    assert recorded["payload"]["text"] == {"preview_url": False, "body": "Podemos confirmar sua consulta?"}


def test_a_malformed_number_is_rejected_without_calling(gateway: MetaCloudGateway, sim: httpx.Client) -> None:
    with pytest.raises(RecipientRejected):
        gateway.send_message("85 9999-0001 ramal 2", TEMPLATE)
    assert sim.get("/_sim/messages").json() == []


def test_an_undeliverable_number_is_accepted_then_fails_by_webhook(gateway, sim, receiver) -> None:
    server, received = receiver
    configure(sim, undeliverable=[PATIENT], webhook_url=f"{server.url}/webhook")

    sent = gateway.send_message(PATIENT, TEMPLATE)  # no number check at the Cloud API: the send is accepted

    wait_for(lambda: statuses_of(received), 10, "the failed status webhook")
    [status] = statuses_of(received)
    assert (status["id"], status["status"], status["errors"][0]["code"]) == (sent.gateway_message_id, "failed",
                                                                            131026)
    assert status["biz_opaque_callback_data"] == "42"


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("status, code", [(400, 130429), (400, 131048), (400, 80007), (500, 131000),
                                          (503, 131016), (429, 4)])
def test_limits_and_outages_are_transient(gateway, sim, status: int, code: int) -> None:
    error = send_failing(gateway, sim, fail_status=status, fail_code=code)

    assert isinstance(error, GatewayTransientError)
    assert (error.status_code, error.outcome_unknown) == (status, False)
    assert str(code) in str(error)
    # Only the next call failed: the retry goes through.
    assert gateway.send_message(PATIENT, TEMPLATE).gateway_message_id


def test_the_pair_rate_limit_asks_six_seconds_unless_retry_after_says(gateway, sim) -> None:
    assert send_failing(gateway, sim, fail_status=400, fail_code=131056).retry_after == 6.0
    assert send_failing(gateway, sim, fail_status=400, fail_code=131056, retry_after=9).retry_after == 9.0


def test_retry_after_is_carried(gateway, sim) -> None:
    assert send_failing(gateway, sim, fail_status=429, fail_code=130429, retry_after=7).retry_after == 7.0
    assert send_failing(gateway, sim, fail_status=500, fail_code=131000, retry_after=None).retry_after is None


def test_over_the_throughput_the_cloud_api_answers_130429(gateway, sim) -> None:
    configure(sim, throughput_per_second=1)

    gateway.send_message(PATIENT, TEMPLATE)
    with pytest.raises(GatewayTransientError) as caught:
        gateway.send_message(PATIENT, TEMPLATE)

    assert "130429" in str(caught.value)
    assert caught.value.retry_after == 1.0
    assert len(sim.get("/_sim/messages").json()) == 1


@pytest.mark.parametrize("code", [131026, 131030, 131009])
def test_recipient_errors_reject_the_recipient_only(gateway, sim, code: int) -> None:
    error = send_failing(gateway, sim, fail_status=400, fail_code=code)

    assert isinstance(error, RecipientRejected)
    assert str(code) in str(error)
    assert PATIENT not in str(error)


def test_an_unknown_template_is_permanent_not_the_recipients_fault(gateway, sim) -> None:
    configure(sim, templates=["outro_modelo"])

    with pytest.raises(GatewayPermanentError) as caught:
        gateway.send_message(PATIENT, TEMPLATE)

    assert not isinstance(caught.value, RecipientRejected)
    assert (caught.value.status_code, "132001" in str(caught.value)) == (404, True)


def test_a_wrong_token_is_permanent_and_never_shown(simulator: LocalServer, sim: httpx.Client) -> None:
    with MetaCloudGateway(simulator.url, "wrong-token", PHONE_NUMBER_ID, VERSION) as gw:
        with pytest.raises(GatewayPermanentError) as caught:
            gw.send_message(PATIENT, TEMPLATE)
        assert "wrong-token" not in repr(gw)

    assert caught.value.status_code == 401
    assert not isinstance(caught.value, RecipientRejected)
    assert "190" in str(caught.value) and "wrong-token" not in str(caught.value)
    assert sim.get("/_sim/messages").json() == []


def test_a_wrong_phone_number_id_is_permanent(simulator: LocalServer, sim: httpx.Client) -> None:
    with MetaCloudGateway(simulator.url, TOKEN, "999", VERSION) as gw, pytest.raises(GatewayPermanentError) as caught:
        gw.send_message(PATIENT, TEMPLATE)

    assert not isinstance(caught.value, RecipientRejected)
    assert caught.value.status_code == 400
    assert "FILAS_META_PHONE_NUMBER_ID" in str(caught.value)


def test_a_timeout_is_transient_and_flags_a_send_that_may_have_gone(simulator: LocalServer, sim) -> None:
    configure(sim, latency_ms=1500)

    with MetaCloudGateway(simulator.url, TOKEN, PHONE_NUMBER_ID, VERSION, timeout=0.3) as gw, \
            pytest.raises(GatewayTransientError) as caught:
        gw.send_message(PATIENT, TEMPLATE)

    assert caught.value.outcome_unknown


def test_an_unreachable_gateway_is_transient_and_surely_not_sent() -> None:
    with MetaCloudGateway(f"http://127.0.0.1:{free_port()}", TOKEN, PHONE_NUMBER_ID, timeout=2.0) as gw, \
            pytest.raises(GatewayTransientError) as caught:
        gw.send_message(PATIENT, TEMPLATE)

    assert not caught.value.outcome_unknown


def test_an_answer_that_is_not_graph_json_is_permanent(simulator: LocalServer) -> None:
    with MetaCloudGateway(simulator.url, TOKEN, PHONE_NUMBER_ID, "not-a-version") as gw, \
            pytest.raises(GatewayPermanentError) as caught:
        gw.send_message(PATIENT, TEMPLATE)
    assert "2500" in str(caught.value)  # Graph: unknown path components


def test_errors_survive_pickling(gateway, sim) -> None:
    error = send_failing(gateway, sim, fail_status=400, fail_code=131056, retry_after=3)

    copy = pickle.loads(pickle.dumps(error))

    assert (type(copy), str(copy), copy.status_code, copy.retry_after) == (GatewayTransientError, str(error), 400, 3.0)


# --- factory ----------------------------------------------------------------------------------


def test_built_by_name_and_from_settings(simulator: LocalServer) -> None:
    by_name = build_gateway("Meta", base_url=simulator.url, access_token=TOKEN, phone_number_id=PHONE_NUMBER_ID)
    settings = Settings(whatsapp_gateway="meta", meta_url=simulator.url, meta_access_token=TOKEN,
                        meta_phone_number_id=PHONE_NUMBER_ID, meta_api_version="v22.0")
    from_settings = gateway_from_settings(settings)
    try:
        assert isinstance(by_name, MetaCloudGateway) and isinstance(from_settings, MetaCloudGateway)
        assert (from_settings.api_version, from_settings.sender) == ("v22.0", f"meta:{PHONE_NUMBER_ID}")
        assert from_settings.send_message(PATIENT, TEMPLATE).gateway_message_id
    finally:
        by_name.close()
        from_settings.close()
    with pytest.raises(ValueError, match="access_token"):
        MetaCloudGateway(simulator.url, "", PHONE_NUMBER_ID)


# --- the simulator itself ---------------------------------------------------------------------


def test_simulator_status_webhooks_are_signed_and_in_order(gateway, sim, receiver) -> None:
    server, received = receiver
    configure(sim, webhook_url=f"{server.url}/webhook")

    sent = gateway.send_message(PATIENT, TEMPLATE)

    wait_for(lambda: len(received) == 2, 10, "the sent and delivered webhooks")
    for item in received:
        assert item["signature"] == signed_by(item["raw"], APP_SECRET)
    event = json.loads(received[0]["raw"])
    assert event["object"] == "whatsapp_business_account"
    change = event["entry"][0]["changes"][0]
    assert change["field"] == "messages"
    assert change["value"]["metadata"]["phone_number_id"] == PHONE_NUMBER_ID
    assert [(s["id"], s["status"], s["recipient_id"], s["biz_opaque_callback_data"]) for s in statuses_of(received)] \
        == [(sent.gateway_message_id, "sent", PATIENT, "42"), (sent.gateway_message_id, "delivered", PATIENT, "42")]
    assert all(s["timestamp"].isdigit() for s in statuses_of(received))
    assert [w["what"] for w in sim.get("/_sim/webhooks").json()] == ["status sent", "status delivered"]


def test_simulator_reply_posts_an_inbound_message_webhook(sim, receiver) -> None:
    server, received = receiver
    configure(sim, webhook_url=f"{server.url}/webhook", legacy_numbers=[LEGACY], app_secret="another-secret")

    answer = sim.post("/_sim/reply", json={"number": LEGACY, "text": "SAIR", "name": "Maria"})

    assert answer.status_code == 200
    [item] = received
    assert item["signature"] == signed_by(item["raw"], "another-secret")
    value = json.loads(item["raw"])["entry"][0]["changes"][0]["value"]
    assert value["contacts"] == [{"profile": {"name": "Maria"}, "wa_id": "558599990003"}]
    [message] = value["messages"]
    assert (message["from"], message["type"], message["text"]) == ("558599990003", "text", {"body": "SAIR"})
    assert message["id"].startswith("wamid.") and message["timestamp"].isdigit()


def test_simulator_answers_graph_error_shapes(sim: httpx.Client) -> None:
    url = f"/{VERSION}/{PHONE_NUMBER_ID}/messages"
    auth = {"Authorization": f"Bearer {TOKEN}"}

    no_token = sim.post(url, json={})
    bad_body = sim.post(url, json={"messaging_product": "whatsapp", "to": PATIENT, "type": "template",
                                   "template": {"name": "x"}}, headers=auth)
    unknown_route = sim.get("/nope", headers=auth)
    bad_number = sim.post(url, json={"messaging_product": "whatsapp", "to": "85 9999-0001", "type": "text",
                                     "text": {"body": "oi"}}, headers=auth)

    assert no_token.status_code == 401
    assert no_token.json()["error"]["code"] == 190 and no_token.json()["error"]["type"] == "OAuthException"
    assert bad_body.status_code == 400
    assert bad_body.json()["error"]["code"] == 100
    assert "language" in bad_body.json()["error"]["error_data"]["details"]
    assert bad_body.json()["error"]["fbtrace_id"]
    assert (unknown_route.status_code, unknown_route.json()["error"]["code"]) == (400, 2500)
    assert (bad_number.status_code, bad_number.json()["error"]["code"]) == (400, 100)
    assert "Recipient phone number" in bad_number.json()["error"]["error_data"]["details"]


def test_simulator_refuses_bad_config(sim: httpx.Client) -> None:
    for bad in ({"undeliverable": ["not digits"]}, {"fail_code": "x"}, {"throughput_per_second": -1},
                {"templates": [""]}, {"app_secret": 5}, {"colour": "blue"}):
        answer = sim.post("/_sim/config", json=bad)
        assert answer.status_code == 400, bad
        assert "error" in answer.json()


def test_a_request_begun_before_a_reset_is_not_recorded_after_it() -> None:
    state = SimulatorState()
    begun_at = state.epoch

    state.reset(app_secret="")
    state.record("messages", {"id": "late"}, begun_at)
    state.record("messages", {"id": "fresh"}, state.epoch)

    assert [message["id"] for message in state.snapshot("messages")] == ["fresh"]


# --- command line -----------------------------------------------------------------------------


MODULE = "filas_simulators.meta_cloud"


def test_command_line_needs_the_access_token() -> None:
    assert ACCESS_TOKEN_ENV in refused_start(MODULE, ACCESS_TOKEN_ENV, "--phone-number-id", PHONE_NUMBER_ID)


def test_command_line_serves_the_simulator() -> None:
    env = {ACCESS_TOKEN_ENV: TOKEN, APP_SECRET_ENV: APP_SECRET}
    with simulator_process(MODULE, env, "--phone-number-id", PHONE_NUMBER_ID) as url, \
            MetaCloudGateway(url, TOKEN, PHONE_NUMBER_ID) as gw:
        assert gw.send_message(PATIENT, TEMPLATE).gateway_message_id
