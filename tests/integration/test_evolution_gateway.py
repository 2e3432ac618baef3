"""EvolutionGateway against the WhatsApp simulator: a real HTTP server on a free localhost port."""

import pickle
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from flask import Flask, jsonify, request
from sim_control import configure, free_port, refused_start, simulator_process

from filas_campaigns.gateways import (
    EvolutionGateway,
    GatewayPermanentError,
    GatewayTransientError,
    NumberStatus,
    OutgoingMessage,
    RecipientRejected,
    WhatsAppGateway,
    build_gateway,
)
from filas_simulators.serving import LocalServer, serve_in_thread
from filas_simulators.whatsapp import API_KEY_ENV, SimulatorState, create_app

API_KEY = "test-evolution-key"
INSTANCE = "filas"

HAS_WHATSAPP = "5585999990001"
WITHOUT_WHATSAPP = "5585999990002"
LEGACY = "5585999990003"  # WhatsApp knows it as 558599990003 (no 9th digit)
LEGACY_JID = "558599990003@s.whatsapp.net"
LANDLINE = "558532345678"


# --- helpers ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def simulator() -> Iterator[LocalServer]:
    with serve_in_thread(create_app(API_KEY, INSTANCE)) as server:
        yield server


@pytest.fixture
def gateway(simulator: LocalServer, sim: httpx.Client) -> Iterator[EvolutionGateway]:
    with EvolutionGateway(simulator.url, API_KEY, INSTANCE, timeout=5.0) as gw:
        yield gw


# --- number checks ----------------------------------------------------------------------------


def test_check_mixed_list_maps_every_number_and_keeps_legacy_id(gateway: EvolutionGateway, sim: httpx.Client) -> None:
    configure(sim, without_whatsapp=[WITHOUT_WHATSAPP], legacy_numbers=[LEGACY])

    statuses = gateway.check_numbers([HAS_WHATSAPP, WITHOUT_WHATSAPP, LEGACY, LANDLINE, "not-a-number", HAS_WHATSAPP])

    assert statuses == [
        NumberStatus(HAS_WHATSAPP, True, f"{HAS_WHATSAPP}@s.whatsapp.net"),
        NumberStatus(WITHOUT_WHATSAPP, False, None),
        NumberStatus(LEGACY, True, LEGACY_JID),
        NumberStatus(LANDLINE, False, None),
        NumberStatus("not-a-number", False, None),
        NumberStatus(HAS_WHATSAPP, True, f"{HAS_WHATSAPP}@s.whatsapp.net"),
    ]
    # Malformed numbers and duplicates are not sent to the gateway.
    assert sim.get("/_sim/checks").json() == [[HAS_WHATSAPP, WITHOUT_WHATSAPP, LEGACY, LANDLINE]]


def test_check_batches_large_lists_and_still_maps_every_number(simulator: LocalServer, sim: httpx.Client) -> None:
    numbers = [f"55859999900{i:02d}" for i in range(1, 11)]
    configure(sim, legacy_numbers=numbers[::3], without_whatsapp=[numbers[4]], reverse_check_results=True)

    with EvolutionGateway(simulator.url, API_KEY, INSTANCE, batch_size=3) as gw:
        statuses = gw.check_numbers(numbers)

    assert [s.number for s in statuses] == numbers
    for status in statuses:
        if status.number == numbers[4]:
            assert status == NumberStatus(numbers[4], False, None)
        elif status.number in numbers[::3]:
            assert status.whatsapp_id == f"{status.number[:4]}{status.number[5:]}@s.whatsapp.net"
        else:
            assert status.whatsapp_id == f"{status.number}@s.whatsapp.net"
    assert [len(batch) for batch in sim.get("/_sim/checks").json()] == [3, 3, 3, 1]


def test_check_of_an_empty_list_asks_nothing(gateway: EvolutionGateway, sim: httpx.Client) -> None:
    assert gateway.check_numbers([]) == []
    assert sim.get("/_sim/checks").json() == []


# --- sending ----------------------------------------------------------------------------------


def test_send_returns_the_id_the_simulator_recorded(gateway: EvolutionGateway, sim: httpx.Client) -> None:
    sent = gateway.send_message(HAS_WHATSAPP, OutgoingMessage("Olá! Sua consulta está marcada."))

    assert sent.gateway_message_id
    assert sent.whatsapp_id == f"{HAS_WHATSAPP}@s.whatsapp.net"
    [recorded] = sim.get("/_sim/messages").json()
    assert recorded["id"] == sent.gateway_message_id
    assert recorded["number"] == HAS_WHATSAPP
    assert recorded["text"] == "Olá! Sua consulta está marcada."


def test_send_to_a_legacy_number_by_either_form(gateway: EvolutionGateway, sim: httpx.Client) -> None:
    configure(sim, legacy_numbers=[LEGACY])

    by_number = gateway.send_message(LEGACY, OutgoingMessage("um"))
    by_jid = gateway.send_message(LEGACY_JID, OutgoingMessage("dois"))

    assert by_number.whatsapp_id == by_jid.whatsapp_id == LEGACY_JID
    recorded = sim.get("/_sim/messages").json()
    assert [(m["id"], m["remoteJid"], m["e164"]) for m in recorded] == [
        (by_number.gateway_message_id, LEGACY_JID, LEGACY),
        (by_jid.gateway_message_id, LEGACY_JID, LEGACY),
    ]


def test_every_send_gets_its_own_id(gateway: EvolutionGateway) -> None:
    ids = {gateway.send_message(HAS_WHATSAPP, OutgoingMessage(f"mensagem {i}")).gateway_message_id for i in range(5)}
    assert len(ids) == 5


@pytest.mark.parametrize("number", [WITHOUT_WHATSAPP, LANDLINE])
def test_send_to_a_number_without_whatsapp_is_rejected(
    gateway: EvolutionGateway, sim: httpx.Client, number: str
) -> None:
    configure(sim, without_whatsapp=[WITHOUT_WHATSAPP])

    with pytest.raises(RecipientRejected) as caught:
        gateway.send_message(number, OutgoingMessage("oi"))

    assert caught.value.number == number
    assert caught.value.status_code == 400
    assert number not in str(caught.value)  # masked: safe to show and log
    assert sim.get("/_sim/messages").json() == []


def test_send_to_a_malformed_number_is_rejected_without_calling(gateway: EvolutionGateway, sim: httpx.Client) -> None:
    with pytest.raises(RecipientRejected):
        gateway.send_message("85 9999-0001 ramal 2", OutgoingMessage("oi"))
    assert sim.get("/_sim/messages").json() == []


# --- failures ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 503])
def test_gateway_failures_on_send_are_transient(gateway: EvolutionGateway, sim: httpx.Client, status: int) -> None:
    configure(sim, fail_next_sends=1, fail_status=status)

    with pytest.raises(GatewayTransientError) as caught:
        gateway.send_message(HAS_WHATSAPP, OutgoingMessage("oi"))
    assert caught.value.status_code == status
    assert caught.value.retry_after is None

    # Only the next call failed: the retry goes through.
    assert gateway.send_message(HAS_WHATSAPP, OutgoingMessage("oi")).gateway_message_id
    assert len(sim.get("/_sim/messages").json()) == 1


@pytest.mark.parametrize("status", [429, 500])
def test_gateway_failures_on_check_are_transient(gateway: EvolutionGateway, sim: httpx.Client, status: int) -> None:
    configure(sim, fail_next_checks=2, fail_status=status)

    for _ in range(2):
        with pytest.raises(GatewayTransientError) as caught:
            gateway.check_numbers([HAS_WHATSAPP])
        assert caught.value.status_code == status

    assert gateway.check_numbers([HAS_WHATSAPP])[0].exists


def test_retry_after_is_carried(gateway: EvolutionGateway, sim: httpx.Client) -> None:
    configure(sim, fail_next_sends=1, fail_status=429, retry_after=7)

    with pytest.raises(GatewayTransientError) as caught:
        gateway.send_message(HAS_WHATSAPP, OutgoingMessage("oi"))

    assert caught.value.retry_after == 7.0


def test_timeout_is_transient_and_flags_a_send_that_may_have_gone(simulator: LocalServer, sim: httpx.Client) -> None:
    configure(sim, latency_ms=1500)

    with (
        EvolutionGateway(simulator.url, API_KEY, INSTANCE, timeout=0.3) as gw,
        pytest.raises(GatewayTransientError) as caught,
    ):
        gw.send_message(HAS_WHATSAPP, OutgoingMessage("oi"))

    assert caught.value.outcome_unknown


def test_unreachable_gateway_is_transient_and_surely_not_sent() -> None:
    with EvolutionGateway(f"http://127.0.0.1:{free_port()}", API_KEY, INSTANCE, timeout=2.0) as gw:
        with pytest.raises(GatewayTransientError) as caught:
            gw.send_message(HAS_WHATSAPP, OutgoingMessage("oi"))
        with pytest.raises(GatewayTransientError):
            gw.check_numbers([HAS_WHATSAPP])

    assert not caught.value.outcome_unknown


def test_wrong_api_key_is_permanent(simulator: LocalServer, sim: httpx.Client) -> None:
    with EvolutionGateway(simulator.url, "wrong-key", INSTANCE) as gw:
        for call in (lambda: gw.check_numbers([HAS_WHATSAPP]),
                     lambda: gw.send_message(HAS_WHATSAPP, OutgoingMessage("oi"))):
            with pytest.raises(GatewayPermanentError) as caught:
                call()
            assert caught.value.status_code == 401
            assert not isinstance(caught.value, RecipientRejected)
            assert "wrong-key" not in str(caught.value)
    assert sim.get("/_sim/messages").json() == []


def test_unknown_instance_is_permanent(simulator: LocalServer, sim: httpx.Client) -> None:
    with (
        EvolutionGateway(simulator.url, API_KEY, "another-instance") as gw,
        pytest.raises(GatewayPermanentError) as caught,
    ):
        gw.send_message(HAS_WHATSAPP, OutgoingMessage("oi"))
    assert caught.value.status_code == 404


def test_errors_survive_pickling(gateway: EvolutionGateway, sim: httpx.Client) -> None:
    configure(sim, fail_next_sends=1, fail_status=429, retry_after=3)
    with pytest.raises(GatewayTransientError) as caught:
        gateway.send_message(HAS_WHATSAPP, OutgoingMessage("oi"))

    copy = pickle.loads(pickle.dumps(caught.value))

    assert (type(copy), str(copy), copy.status_code, copy.retry_after) == (
        GatewayTransientError,
        str(caught.value),
        429,
        3.0,
    )


# --- factory ----------------------------------------------------------------------------------


def test_build_gateway_by_name(simulator: LocalServer) -> None:
    gw = build_gateway("Evolution", base_url=simulator.url, api_key=API_KEY, instance=INSTANCE)
    try:
        assert isinstance(gw, WhatsAppGateway)
        assert API_KEY not in repr(gw)
    finally:
        gw.close()
    with pytest.raises(ValueError, match="unknown WhatsApp gateway"):
        build_gateway("carrier-pigeon")


# --- the simulator itself ---------------------------------------------------------------------


def test_simulator_answers_evolution_error_shapes(simulator: LocalServer, sim: httpx.Client) -> None:
    url = f"/chat/whatsappNumbers/{INSTANCE}"

    missing = sim.post(url, json={"numbers": [HAS_WHATSAPP]})
    unknown = sim.post("/chat/whatsappNumbers/nope", json={"numbers": []}, headers={"apikey": API_KEY})
    bad_body = sim.post(url, json={"nums": []}, headers={"apikey": API_KEY})

    assert (missing.status_code, missing.json()) == (
        401,
        {"status": 401, "error": "Unauthorized", "response": {"message": "Unauthorized"}},
    )
    assert unknown.status_code == 404
    assert unknown.json()["response"]["message"] == ['The "nope" instance does not exist']
    assert bad_body.status_code == 400
    assert bad_body.json()["error"] == "Bad Request"


def test_simulator_send_shapes(sim: httpx.Client) -> None:
    configure(sim, without_whatsapp=[WITHOUT_WHATSAPP])
    headers = {"apikey": API_KEY}

    ok = sim.post(
        f"/message/sendText/{INSTANCE}", json={"number": HAS_WHATSAPP, "text": "oi", "delay": 1200}, headers=headers
    )
    refused = sim.post(
        f"/message/sendText/{INSTANCE}", json={"number": WITHOUT_WHATSAPP, "text": "oi"}, headers=headers
    )

    assert ok.status_code == 201
    body = ok.json()
    assert body["key"]["fromMe"] is True
    assert body["key"]["remoteJid"] == f"{HAS_WHATSAPP}@s.whatsapp.net"
    assert body["message"] == {"conversation": "oi"}
    assert body["status"] == "PENDING"
    assert isinstance(body["messageTimestamp"], int)
    assert (refused.status_code, refused.json()) == (
        400,
        {
            "status": 400,
            "error": "Bad Request",
            "response": {
                "message": [{"jid": f"{WITHOUT_WHATSAPP}@s.whatsapp.net", "exists": False, "number": WITHOUT_WHATSAPP}]
            },
        },
    )
    assert sim.get("/_sim/messages").json()[0]["delay"] == 1200


def test_simulator_refuses_bad_config(sim: httpx.Client) -> None:
    for bad in ({"legacy_numbers": [LANDLINE]}, {"fail_status": 200}, {"fail_next_sends": -1}, {"colour": "blue"}):
        answer = sim.post("/_sim/config", json=bad)
        assert answer.status_code == 400, bad
        assert "error" in answer.json()


def test_reply_posts_a_messages_upsert_webhook(sim: httpx.Client) -> None:
    received: list[dict[str, Any]] = []
    receiver = Flask("webhook-receiver")

    @receiver.post("/webhooks/evolution")
    def webhook() -> Any:
        received.append(request.get_json())
        return jsonify(ok=True), 202

    configure(sim, legacy_numbers=[LEGACY])
    with serve_in_thread(receiver) as server:
        configure(sim, webhook_url=f"{server.url}/webhooks/evolution")
        answer = sim.post("/_sim/reply", json={"number": LEGACY, "text": "SAIR", "push_name": "Maria"})

    assert answer.status_code == 200
    assert answer.json()["webhook"] == {"status": 202, "body": {"ok": True}}
    [event] = received
    assert event["event"] == "messages.upsert"
    assert event["instance"] == INSTANCE
    data = event["data"]
    assert data["key"]["remoteJid"] == LEGACY_JID  # replies come from the gateway id, not the E.164 number
    assert data["key"]["fromMe"] is False
    assert data["key"]["id"]
    assert data["pushName"] == "Maria"
    assert data["message"] == {"conversation": "SAIR"}
    assert isinstance(data["messageTimestamp"], int)
    assert answer.json()["event"] == event


def test_reply_without_a_webhook_url_says_so(sim: httpx.Client) -> None:
    answer = sim.post("/_sim/reply", json={"number": HAS_WHATSAPP, "text": "oi"})
    assert answer.status_code == 409
    assert "webhook_url" in answer.json()["error"]


def test_reply_to_an_unreachable_webhook_is_a_502(sim: httpx.Client) -> None:
    configure(sim, webhook_url=f"http://127.0.0.1:{free_port()}/webhook")
    answer = sim.post("/_sim/reply", json={"number": HAS_WHATSAPP, "text": "oi"})
    assert answer.status_code == 502
    assert answer.json()["event"]["event"] == "messages.upsert"


def test_concurrent_sends_are_all_recorded(gateway: EvolutionGateway, sim: httpx.Client) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        sent = list(pool.map(lambda i: gateway.send_message(HAS_WHATSAPP, OutgoingMessage(f"m{i}")), range(40)))

    recorded = sim.get("/_sim/messages").json()
    assert sorted(m["id"] for m in recorded) == sorted(s.gateway_message_id for s in sent)
    assert len({s.gateway_message_id for s in sent}) == 40


# --- command line -----------------------------------------------------------------------------


MODULE = "filas_simulators.whatsapp"


def test_command_line_needs_the_api_key() -> None:
    assert API_KEY_ENV in refused_start(MODULE, API_KEY_ENV)


def test_command_line_serves_the_simulator() -> None:
    with simulator_process(MODULE, {API_KEY_ENV: API_KEY}) as url, EvolutionGateway(url, API_KEY, INSTANCE) as gw:
        assert gw.send_message(HAS_WHATSAPP, OutgoingMessage("oi")).gateway_message_id


def test_a_request_begun_before_a_reset_is_not_recorded_after_it() -> None:
    """A send still sleeping out `latency_ms` when a test resets the simulator must not leak into the
    next test's records (seen once in CI as a 41st message in a 40-message test)."""
    state = SimulatorState()
    begun_at = state.epoch

    state.reset()
    state.record_message({"id": "late"}, begun_at)
    state.record_check(["5585999990001"], begun_at)
    state.record_message({"id": "fresh"}, state.epoch)

    assert [message["id"] for message in state.snapshot("messages")] == ["fresh"]
    assert state.snapshot("checks") == []


# --- looking a send up (findMessages) ---------------------------------------------------------


def test_find_sent_finds_a_send_by_number_or_legacy_jid(gateway: EvolutionGateway, sim: httpx.Client) -> None:
    from datetime import UTC, datetime, timedelta

    configure(sim, legacy_numbers=[LEGACY])
    since = datetime.now(UTC)
    gateway.send_message(LEGACY, OutgoingMessage("outra"))
    sent = gateway.send_message(LEGACY, OutgoingMessage("Lembrete da consulta"))

    by_number = gateway.find_sent(LEGACY, OutgoingMessage("Lembrete da consulta"), since)
    by_jid = gateway.find_sent(LEGACY_JID, OutgoingMessage("Lembrete da consulta"), since)

    assert by_number == by_jid
    assert (by_number.gateway_message_id, by_number.whatsapp_id) == (sent.gateway_message_id, LEGACY_JID)
    assert gateway.find_sent(LEGACY, OutgoingMessage("nunca enviada"), since) is None
    assert gateway.find_sent(HAS_WHATSAPP, OutgoingMessage("Lembrete da consulta"), since) is None
    assert gateway.find_sent(LEGACY, OutgoingMessage("Lembrete da consulta"), since + timedelta(hours=1)) is None


def test_find_messages_answers_evolution_v2_pages_newest_first(gateway: EvolutionGateway, sim: httpx.Client) -> None:
    sent = [gateway.send_message(HAS_WHATSAPP, OutgoingMessage(f"m{i}")).gateway_message_id for i in range(3)]
    gateway.send_message("5585988880002", OutgoingMessage("outro chat"))
    headers = {"apikey": API_KEY}
    where = {"where": {"key": {"remoteJid": f"{HAS_WHATSAPP}@s.whatsapp.net"}}}

    first = sim.post(f"/chat/findMessages/{INSTANCE}", json={**where, "offset": 2}, headers=headers).json()
    second = sim.post(f"/chat/findMessages/{INSTANCE}", json={**where, "offset": 2, "page": 2}, headers=headers).json()
    by_id = sim.post(f"/chat/findMessages/{INSTANCE}", json={"where": {"key": {
        "remoteJid": f"{HAS_WHATSAPP}@s.whatsapp.net", "id": sent[0]}}}, headers=headers).json()

    assert {k: v for k, v in first["messages"].items() if k != "records"} == {"total": 3, "pages": 2, "currentPage": 1}
    records = first["messages"]["records"] + second["messages"]["records"]
    assert [r["key"]["id"] for r in records] == sent[::-1]
    record = records[-1]
    assert record["key"] == {"id": sent[0], "fromMe": True, "remoteJid": f"{HAS_WHATSAPP}@s.whatsapp.net"}
    assert record["message"] == {"conversation": "m0"}
    assert isinstance(record["messageTimestamp"], int) and record["id"] != sent[0]
    assert [r["key"]["id"] for r in by_id["messages"]["records"]] == [sent[0]]


def test_find_messages_checks_key_and_body(sim: httpx.Client) -> None:
    url = f"/chat/findMessages/{INSTANCE}"
    assert sim.post(url, json={"where": {}}, headers={"apikey": "wrong"}).status_code == 401
    assert sim.post(url, json={"where": {}}, headers={"apikey": API_KEY}).status_code == 400
    assert sim.post(url, json={"where": {"key": {"remoteJid": "x"}}, "page": 0},
                    headers={"apikey": API_KEY}).status_code == 400


def test_sim_messages_carry_the_time_of_acceptance(gateway: EvolutionGateway, sim: httpx.Client) -> None:
    before = time.time()
    gateway.send_message(HAS_WHATSAPP, OutgoingMessage("oi"))
    [recorded] = sim.get("/_sim/messages").json()
    assert before <= recorded["at"] <= time.time()


# --- status webhooks --------------------------------------------------------------------------


def test_a_send_posts_evolution_status_webhooks_with_the_configured_headers(gateway, sim) -> None:
    from waiting import wait_for

    received: list[tuple[dict[str, Any], str | None]] = []
    receiver = Flask("status-receiver")

    @receiver.post("/webhooks/evolution")
    def webhook() -> Any:
        received.append((request.get_json(), request.headers.get("Authorization")))
        return jsonify(ok=True)

    with serve_in_thread(receiver) as server:
        configure(sim, webhook_url=f"{server.url}/webhooks/evolution",
                  webhook_headers={"Authorization": "Bearer segredo"})
        sent = gateway.send_message(HAS_WHATSAPP, OutgoingMessage("oi"))
        wait_for(lambda: len(received) == 3, 10, "three status webhooks")

    assert [event["event"] for event, _ in received] == ["send.message", "messages.update", "messages.update"]
    assert {header for _, header in received} == {"Bearer segredo"}
    assert received[0][0]["data"]["key"]["id"] == sent.gateway_message_id
    updates = [event["data"] for event, _ in received[1:]]
    assert [(u["keyId"], u["status"], u["fromMe"]) for u in updates] == [
        (sent.gateway_message_id, "SERVER_ACK", True), (sent.gateway_message_id, "DELIVERY_ACK", True)]
    assert all(u["remoteJid"] == f"{HAS_WHATSAPP}@s.whatsapp.net" and u["messageId"] for u in updates)
    assert [w["status"] for w in sim.get("/_sim/webhooks").json()] == [200, 200, 200]


def test_status_webhooks_can_be_turned_off(gateway: EvolutionGateway, sim: httpx.Client) -> None:
    configure(sim, webhook_url=f"http://127.0.0.1:{free_port()}/webhook", status_webhooks=False)
    gateway.send_message(HAS_WHATSAPP, OutgoingMessage("oi"))
    sim.post("/_sim/reply", json={"number": HAS_WHATSAPP, "text": "oi"})  # posted at once, the receiver down
    assert [w["event"] for w in sim.get("/_sim/webhooks").json()] == ["messages.upsert"]
