"""A 10,000-contact campaign, and a second one beside it, sent while the campaign workers (two processes)
are SIGKILLed again and again (an OOM kill, a lost node) and restarted as Kubernetes would, while the
gateway (the WhatsApp simulator) answers 429 with Retry-After, then 5xx, for a while.

What must hold:
- every valid contact that did not opt out gets the message exactly once — a send cut off by a kill is
  looked up at the gateway by the next delivery (sent: recorded; not: sent again), never guessed;
- no opted-out, invalid or landline number gets anything;
- the rate the gateway sees, across both campaigns and both worker processes, never exceeds the configured
  limit in any one-second window;
- both campaigns end 'enviada', with no message row left 'enviando'."""

from collections import Counter

import pytest
from arrivals import busiest_second
from faultkit import (
    FAST_RECOVERY,
    campaign_system,
    create_campaign,
    kill_and_restart_worker,
    message_rows,
    mobile,
    spaced_faults,
    start_task,
    task_ended,
    wait_for,
)

pytestmark = pytest.mark.timeout(900)

RATE = 100  # messages per second for the sending number
SETTINGS = FAST_RECOVERY | {"FILAS_WHATSAPP_RATE_PER_SECOND": str(RATE), "FILAS_CAMPAIGN_CHUNK_SIZE": "200"}

VALID = 9_600  # mobiles with WhatsApp ...
LEGACY = range(0, VALID, 60)  # ... some known by their old id, without the 9th digit
OPTED_OUT = range(7, VALID, 95)  # ... some that opted out
NO_WHATSAPP = 250
LANDLINES = 150
SECOND_CAMPAIGN = 2_000  # sent at the same time, by the other worker process, on the same number
KILLS_WHILE_VALIDATING = 1
KILLS_WHILE_SENDING = 3
SENDS_BETWEEN_FAULTS = 1_200
THROTTLED = 8  # sends answered 429 with Retry-After: 2 s
SERVER_ERRORS = 6  # sends answered 503


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    with campaign_system(tmp_path_factory.mktemp("faults-campaign-sigkill"), "whatsapp-sim", SETTINGS) as running:
        yield running


def test_campaigns_survive_sigkills_and_a_throttling_gateway_messaging_everyone_once(system, fault_report):
    api = system.api
    valid = [mobile(n) for n in range(VALID)]
    second = [mobile(VALID + n) for n in range(SECOND_CAMPAIGN)]
    no_whatsapp = [mobile(VALID + SECOND_CAMPAIGN + n) for n in range(NO_WHATSAPP)]
    landlines = [f"55853{n:07d}" for n in range(LANDLINES)]
    opted_out = {valid[n] for n in OPTED_OUT}
    expected = (set(valid) - opted_out) | set(second)
    with system.sim("whatsapp") as whatsapp:
        whatsapp.post("/_sim/reset").raise_for_status()
        whatsapp.post("/_sim/config", json={"without_whatsapp": no_whatsapp,
                                            "legacy_numbers": [valid[n] for n in LEGACY],
                                            "latency_ms": 100}).raise_for_status()  # validation: ~20 s of calls
        campaign_id = create_campaign(api, valid + no_whatsapp + landlines)
        second_id = create_campaign(api, second, name="Segunda campanha")
        for telefone in opted_out:
            assert api.post("/api/optouts", json={"telefone": telefone}).status_code == 201

        validations = [start_task(api, campaign_id, "validar"), start_task(api, second_id, "validar")]
        for _ in range(KILLS_WHILE_VALIDATING):
            wait_for(lambda: (api.status(validations[0]["status_url"])["progresso"] or {}).get("feitos", 0) >= 2_000,
                     "the validation under way")
            kill_and_restart_worker(system)
        validated = [task_ended(api, task["status_url"], timeout=300) for task in validations]
        assert [task["status"] for task in validated] == ["finished", "finished"], validated
        assert validated[0]["resultado"]["validos"] == VALID
        assert validated[0]["resultado"]["invalidos"] == NO_WHATSAPP + LANDLINES

        whatsapp.post("/_sim/config", json={"latency_ms": 5}).raise_for_status()
        sendings = [start_task(api, campaign_id, "enviar"), start_task(api, second_id, "enviar")]
        faults = [("kill", None), ("gateway", {"fail_next_sends": THROTTLED, "fail_status": 429, "retry_after": 2}),
                  ("kill", None), ("gateway", {"fail_next_sends": SERVER_ERRORS, "fail_status": 503}), ("kill", None)]
        for fault, config in spaced_faults(system, campaign_id, faults, SENDS_BETWEEN_FAULTS, len(valid)):
            if fault == "kill":
                kill_and_restart_worker(system)
            else:
                whatsapp.post("/_sim/config", json=config).raise_for_status()
        sent_tasks = [task_ended(api, task["status_url"], timeout=600) for task in sendings]
        received = whatsapp.get("/_sim/messages").json()

    per_number = Counter(message["e164"] for message in received)
    twice = {number: times for number, times in per_number.items() if times > 1}
    rows = message_rows(system.database_url, campaign_id) + message_rows(system.database_url, second_id)
    by_status = Counter(status for _, status, _ in rows)
    sent = {telefone for telefone, status, _ in rows if status == "enviada"}
    skipped = {telefone for telefone, status, _ in rows if status == "ignorada"}
    busiest = busiest_second([message["at"] for message in received])
    span = max(m["at"] for m in received) - min(m["at"] for m in received)
    fault_report(f"{KILLS_WHILE_VALIDATING} SIGKILL(s) while validating; while sending {len(expected)} messages: "
                 f"{sum(f == 'kill' for f, _ in faults)} SIGKILLs, {THROTTLED} × 429 (Retry-After 2 s), "
                 f"{SERVER_ERRORS} × 503; "
                 f"tasks: {[(t['status'], t['tentativas']) for t in sent_tasks]}")
    fault_report(f"message rows: {dict(by_status)}; duplicates at the gateway: {len(twice)}")
    fault_report(f"rate at the gateway: limit {RATE}/s, busiest second {busiest}, mean {len(received) / span:.1f}/s "
                 f"over {span:.0f} s")

    assert not twice, f"messaged more than once: {twice}"
    assert [task["status"] for task in sent_tasks] == ["finished", "finished"], sent_tasks
    assert set(per_number) == expected, "not every valid contact got the message, or someone else did"
    assert by_status["enviando"] == 0, "a send left with its outcome unknown"
    assert sent == expected and skipped == opted_out
    assert len(rows) == len({telefone for telefone, _, _ in rows}), "a contact with two message rows"
    by_gateway_id = {message["id"]: message["e164"] for message in received}
    assert all(by_gateway_id.get(gateway_id) == telefone for telefone, status, gateway_id in rows
               if status == "enviada"), "a sent row does not carry the gateway's id of its own message"
    assert busiest <= RATE, f"{busiest} messages reached the gateway within one second (limit {RATE}/s)"
    for campaign in (campaign_id, second_id):
        assert api.get(f"/api/campanhas/{campaign}").json()["campanha"]["status"] == "enviada"
