"""PostgreSQL stopped and started again (same port, same data directory) while a campaign is being sent and
another job arrives at the worker.

While it is down the API answers 503 with a message (never a 500) wherever it needs the database, and keeps
answering what it reads from Redis alone; the running send and the arriving job are retried by the worker and
finish once PostgreSQL is back; nothing accepted is lost and nobody is messaged twice."""

import uuid
from collections import Counter

import pytest
from dramatiq.brokers.redis import RedisBroker
from faultkit import (
    FAST_RECOVERY,
    count_message_rows,
    create_campaign,
    message_rows,
    mobile,
    own_system,
    start_task,
    task_ended,
    unavailable_message,
    wait_for,
)

from filas import contracts, lifecycle
from filas.db.models import Campaign, CampaignStatus
from filas.db.session import session_scope

pytestmark = pytest.mark.timeout(300)

# Evolution's default pace (1/s) would make the send outlast the test's wait: what is under test is the outage.
SETTINGS = FAST_RECOVERY | {"FILAS_WHATSAPP_RATE_PER_SECOND": "10"}
SENDING = 150
VALIDATING = 5


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    with own_system(tmp_path_factory.mktemp("faults-postgres-outage"),
                    ["whatsapp-sim", "api", "campaign-worker", "scheduler"], SETTINGS,
                    supervise=["whatsapp-sim", "api", "scheduler"]) as running:
        yield running


def accepted_but_not_sent(database_url: str, campaign_id: int):
    """What the API does when it accepts a validation, up to the commit: the row records the job; the
    message is sent later (here: while PostgreSQL is down, as a retry or the reconciler would)."""
    with session_scope(database_url) as session:
        campaign = session.get(Campaign, campaign_id, with_for_update=True)
        message = contracts.VALIDATE_NUMBERS.message(campaign_id=campaign_id)
        campaign.status = CampaignStatus.VALIDATING
        campaign.validacao_job_id = message.message_id
        lifecycle.queue(campaign, message.message_id)
    return message


def test_a_postgres_outage_is_503s_then_every_job_finishes(system, fault_report):
    api = system.api
    redis = system.redis.client()
    sending_to = [mobile(n) for n in range(SENDING)]
    with system.sim("whatsapp") as whatsapp:
        whatsapp.post("/_sim/reset").raise_for_status()
        running_id = create_campaign(api, sending_to, "enviada durante a queda")
        assert task_ended(api, start_task(api, running_id, "validar")["status_url"])["status"] == "finished"
        arriving_id = create_campaign(api, [mobile(SENDING + n) for n in range(VALIDATING)], "chega durante a queda")
        arriving = accepted_but_not_sent(system.database_url, arriving_id)
        whatsapp.post("/_sim/config", json={"latency_ms": 60}).raise_for_status()
        sending = start_task(api, running_id, "enviar")
        wait_for(lambda: count_message_rows(system.database_url, running_id) >= 20, "the send under way")

        system.postgres.stop_server()
        broker = RedisBroker(url=system.redis.url)
        try:
            broker.enqueue(arriving)
        finally:
            broker.close()

        said = {
            "GET campaign": unavailable_message(api.get(f"/api/campanhas/{running_id}")),
            "POST campaign": unavailable_message(api.post("/api/campanhas", json={
                "nome": "x", "mensagem": "y", "contatos": [{"nome": "z", "telefone": mobile(9_999_999)}]})),
            "POST validar": unavailable_message(api.post(f"/api/campanhas/{arriving_id}/validar")),
            "GET task": unavailable_message(api.get(sending["status_url"])),
            "POST cancel": unavailable_message(api.post(f"/api/task/{uuid.uuid4()}/cancel")),
            "POST opt-out": unavailable_message(api.post("/api/optouts", json={"telefone": mobile(1)})),
            "POST booking": unavailable_message(api.post("/portal/api/solicitar-agendamento-async", json={
                "lote_id": "LOTE-PG", "data_agendamento": "2099-01-02", "hora_agendamento": "09:00",
                "transportadora": "T", "tipo_veiculo": "truck"})),
            "GET booking": unavailable_message(api.get(f"/portal/api/status-job/{uuid.uuid4()}")),
        }
        ready = api.get("/readyz")
        assert (ready.status_code, ready.json()["checks"]) == (503, {"database": "unavailable", "redis": "ok"})
        queues = api.get("/portal/api/status-filas")  # read from Redis alone
        assert queues.status_code == 200, queues.text
        # The worker meets the outage: the running send fails at its next database write and is retried;
        # the arriving job cannot claim its row and is postponed. Both wait as "retrying".
        for job_id in (sending["task_id"], arriving.message_id):
            wait_for(lambda job_id=job_id: redis.hget(f"filas:job:{job_id}", "status") == "retrying",
                     f"job {job_id} retrying while PostgreSQL is down")

        system.postgres.start_server()
        sent_task = task_ended(api, sending["status_url"])
        validated = task_ended(api, f"/api/task/{arriving.message_id}/status")
        received = whatsapp.get("/_sim/messages").json()
        whatsapp.post("/_sim/config", json={"latency_ms": 0}).raise_for_status()
    redis.close()

    per_number = Counter(message["e164"] for message in received)
    rows = message_rows(system.database_url, running_id)
    sent = {telefone for telefone, status, _ in rows if status == "enviada"}
    unknown = {telefone for telefone, status, _ in rows if status == "enviando"}
    fault_report(f"PostgreSQL down mid-send: API 503 messages: {sorted(set(said.values()))}")
    fault_report(f"send: {sent_task['status']} after {sent_task['tentativas']} retries; sent {len(sent)}, outcome "
                 f"unknown {len(unknown)} (received by the gateway: {len(unknown & set(per_number))}); arriving "
                 f"validation: {validated['status']} after {validated['tentativas']} retries")

    assert sent_task["status"] == "finished", sent_task
    assert validated["status"] == "finished", validated
    assert validated["resultado"]["validos"] == VALIDATING
    assert not {number for number, times in per_number.items() if times > 1}, per_number
    assert sent | unknown == set(sending_to) and len(sent) + len(unknown) == SENDING
    assert sent <= set(per_number)
    campaign = api.get(f"/api/campanhas/{running_id}").json()["campanha"]
    assert (campaign["status"], campaign["contatos"]) == ("enviada", SENDING)
    assert api.get(f"/api/campanhas/{arriving_id}").json()["campanha"]["status"] == "validada"
