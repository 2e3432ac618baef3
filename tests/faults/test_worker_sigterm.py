"""SIGTERM to the campaign worker in the middle of a send, as a rolling update or a scale-in does.

The worker runs with a shutdown timeout (dramatiq --worker-shutdown-timeout) below the pod's grace period, so
it always stops by itself before Kubernetes would SIGKILL it: the send in progress either finishes within the
timeout, or is handed back (its message stays in the dead worker's ack set until dead-worker recovery gives
it to the restarted worker, which skips the contacts already done). Either way it ends finished, and no
contact is messaged twice."""

import signal
import time
from collections import Counter

import pytest
from faultkit import (
    FAST_RECOVERY,
    count_message_rows,
    create_campaign,
    message_rows,
    mobile,
    own_system,
    start_task,
    task_ended,
    wait_for,
)

pytestmark = pytest.mark.timeout(300)

SHUTDOWN_TIMEOUT_MS = 3_000
POD_GRACE_SECONDS = 30  # Kubernetes' default terminationGracePeriodSeconds
SETTINGS = FAST_RECOVERY


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    with own_system(tmp_path_factory.mktemp("faults-worker-sigterm"),
                    ["whatsapp-sim", "api", "campaign-worker", "scheduler"], SETTINGS,
                    extra_argv={"campaign-worker": ["--worker-shutdown-timeout", str(SHUTDOWN_TIMEOUT_MS)]},
                    supervise=["whatsapp-sim", "api", "scheduler"]) as running:
        running.reset()
        yield running


@pytest.mark.parametrize(("contacts", "latency_ms", "expected_path"), [
    pytest.param(8, 150, "finished within the shutdown timeout", id="short-send-finishes"),
    pytest.param(60, 300, "handed back and finished by the restarted worker", id="long-send-handed-back"),
])
def test_sigterm_mid_send_finishes_or_hands_back_and_messages_nobody_twice(system, fault_report, contacts,
                                                                          latency_ms, expected_path):
    api = system.api
    numbers = [mobile(10_000 * latency_ms + n) for n in range(contacts)]
    with system.sim("whatsapp") as whatsapp:
        campaign_id = create_campaign(api, numbers)
        assert task_ended(api, start_task(api, campaign_id, "validar")["status_url"])["status"] == "finished"
        whatsapp.post("/_sim/config", json={"latency_ms": latency_ms}).raise_for_status()
        sending = start_task(api, campaign_id, "enviar")
        wait_for(lambda: count_message_rows(system.database_url, campaign_id) >= 2, "the send under way")

        stopping = time.monotonic()
        exit_code = system.stack.kill("campaign-worker", signal.SIGTERM, grace=POD_GRACE_SECONDS)
        stopped_after = time.monotonic() - stopping  # reported, not asserted
        ended_during_shutdown = api.status(sending["status_url"])["status"] == "finished"
        system.stack.respawn("campaign-worker")
        final = task_ended(api, sending["status_url"])
        received = whatsapp.get("/_sim/messages").json()
        whatsapp.post("/_sim/config", json={"latency_ms": 0}).raise_for_status()

    path = ("finished within the shutdown timeout" if ended_during_shutdown
            else "handed back and finished by the restarted worker")
    per_number = Counter(message["e164"] for message in received)
    rows = message_rows(system.database_url, campaign_id)
    sent = {telefone for telefone, status, _ in rows if status == "enviada"}
    unknown = {telefone for telefone, status, _ in rows if status == "enviando"}
    fault_report(f"{contacts} contacts at {latency_ms} ms per send, SIGTERM with --worker-shutdown-timeout "
                 f"{SHUTDOWN_TIMEOUT_MS} ms: the worker's process group was gone {stopped_after:.1f} s later "
                 f"(exit code {exit_code}); {path} (expected: {expected_path})")
    fault_report(f"task {final['status']} after {final['tentativas']} retries; sent {len(sent)}, outcome unknown "
                 f"{len(unknown)} (received by the gateway: {len(unknown & set(per_number))})")

    assert exit_code != -signal.SIGKILL, "the worker overran the pod's grace period and had to be SIGKILLed"
    assert not {number for number, times in per_number.items() if times > 1}, per_number
    assert final["status"] == "finished", final
    assert sent | unknown == set(numbers) and len(sent) + len(unknown) == contacts
    assert sent <= set(per_number)
    assert api.get(f"/api/campanhas/{campaign_id}").json()["campanha"]["status"] == "enviada"
