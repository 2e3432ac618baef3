"""A 2,000-contact campaign validated and sent while the campaign worker is SIGKILLed again and again (an OOM
kill, a lost node), and started again each time, as Kubernetes would.

What must hold: no contact gets the message twice, and every valid contact that did not opt out ends with a
message row. A worker killed between claiming a contact's row and the gateway's answer leaves that row
'enviando': its outcome is unknown, it is never resent (no duplicates), so "exactly once" becomes "at most
once" for those few. The test counts them, and checks each against what the gateway (the WhatsApp simulator)
really received; the count is printed in the run's fault report."""

import signal
from collections import Counter

import pytest
from faultkit import (
    FAST_RECOVERY,
    FaultSystem,
    count_message_rows,
    create_campaign,
    message_rows,
    mobile,
    own_system,
    start_task,
    task_ended,
    wait_for,
)

pytestmark = pytest.mark.timeout(600)

SETTINGS = FAST_RECOVERY

VALID = 1_900  # mobiles with WhatsApp ...
LEGACY = range(0, VALID, 60)  # ... some known by their old id, without the 9th digit
OPTED_OUT = range(7, VALID, 95)  # ... some that opted out
NO_WHATSAPP = 60
LANDLINES = 40
KILLS_WHILE_VALIDATING = 1
KILLS_WHILE_SENDING = 4
SENDS_BETWEEN_KILLS = 150


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    with own_system(tmp_path_factory.mktemp("faults-campaign-sigkill"),
                    ["whatsapp-sim", "api", "campaign-worker", "scheduler"], SETTINGS,
                    supervise=["whatsapp-sim", "api", "scheduler"]) as running:
        yield running


def kill_and_restart_worker(system: FaultSystem) -> None:
    system.stack.kill("campaign-worker", signal.SIGKILL)
    system.stack.respawn("campaign-worker")


def test_a_campaign_survives_repeated_sigkills_without_messaging_anyone_twice(system, fault_report):
    api = system.api
    valid = [mobile(n) for n in range(VALID)]
    no_whatsapp = [mobile(VALID + n) for n in range(NO_WHATSAPP)]
    landlines = [f"55853{n:07d}" for n in range(LANDLINES)]
    opted_out = {valid[n] for n in OPTED_OUT}
    expected = set(valid) - opted_out
    with system.sim("whatsapp") as whatsapp:
        whatsapp.post("/_sim/reset").raise_for_status()
        whatsapp.post("/_sim/config", json={"without_whatsapp": no_whatsapp,
                                            "legacy_numbers": [valid[n] for n in LEGACY],
                                            "latency_ms": 150}).raise_for_status()  # validation: ~6 s of calls
        campaign_id = create_campaign(api, valid + no_whatsapp + landlines)
        for telefone in opted_out:
            assert api.post("/api/optouts", json={"telefone": telefone}).status_code == 201

        # Validate, with a kill half-way.
        validation = start_task(api, campaign_id, "validar")
        for _ in range(KILLS_WHILE_VALIDATING):
            wait_for(lambda: ((api.status(validation["status_url"])["progresso"] or {}).get("feitos", 0) >= 500),
                     "the validation under way")
            kill_and_restart_worker(system)
        validated = task_ended(api, validation["status_url"])
        assert validated["status"] == "finished", validated
        assert validated["resultado"]["validos"] == VALID
        assert validated["resultado"]["invalidos"] == NO_WHATSAPP + LANDLINES

        # Send, with a kill every SENDS_BETWEEN_KILLS new contacts.
        whatsapp.post("/_sim/config", json={"latency_ms": 5}).raise_for_status()
        sending = start_task(api, campaign_id, "enviar")
        claimed = 0
        for kill in range(1, KILLS_WHILE_SENDING + 1):
            claimed = wait_for(
                lambda floor=claimed: (n := count_message_rows(system.database_url, campaign_id)) >= floor
                + SENDS_BETWEEN_KILLS and n, f"the send under way before kill {kill}")
            assert claimed < len(valid), "the campaign ended before all the kills: make it slower"
            kill_and_restart_worker(system)
        sent_task = task_ended(api, sending["status_url"], timeout=300)

        received = whatsapp.get("/_sim/messages").json()

    per_number = Counter(message["e164"] for message in received)
    twice = {number: times for number, times in per_number.items() if times > 1}
    rows = message_rows(system.database_url, campaign_id)
    by_status = Counter(status for _, status, _ in rows)
    sent = {telefone for telefone, status, _ in rows if status == "enviada"}
    unknown = {telefone for telefone, status, _ in rows if status == "enviando"}
    skipped = {telefone for telefone, status, _ in rows if status == "ignorada"}
    unknown_received = unknown & set(per_number)
    fault_report(f"{KILLS_WHILE_VALIDATING} SIGKILL(s) while validating, {KILLS_WHILE_SENDING} while sending "
                 f"{len(expected)} messages; task: {sent_task['status']} after {sent_task['tentativas']} retries")
    fault_report(f"message rows: {dict(by_status)}; duplicates at the gateway: {len(twice)}")
    fault_report(f"outcome unknown ('enviando'): {len(unknown)}, of which the gateway did receive "
                 f"{len(unknown_received)} and did not receive {len(unknown - unknown_received)}")

    assert not twice, f"messaged more than once: {twice}"
    assert sent_task["status"] == "finished", sent_task
    assert len(rows) == len({telefone for telefone, _, _ in rows}), "a contact with two message rows"
    assert skipped == opted_out
    assert sent | unknown == expected and not sent & unknown  # sent + unknown == expected
    assert len(sent) + len(unknown) == len(expected)
    assert set(per_number) <= expected, "a message reached an opted-out or invalid number"
    assert sent <= set(per_number), "a row says sent, the gateway never received it"
    by_gateway_id = {message["id"]: message["e164"] for message in received}
    assert all(by_gateway_id.get(gateway_id) == telefone for telefone, status, gateway_id in rows
               if status == "enviada"), "a sent row does not carry the gateway's id of its own message"
    campaign = api.get(f"/api/campanhas/{campaign_id}").json()["campanha"]
    assert campaign["status"] == "enviada", campaign
