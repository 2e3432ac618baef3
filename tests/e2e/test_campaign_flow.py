"""A campaign from creation to every patient's message, and cancelling tasks, through every real part."""

from scraped_metrics import sample, scrape
from sqlalchemy import select

from filas.db.models import Campaign, Contact
from filas.db.session import session_scope

CONTACTS = [
    {"nome": "Maria Souza", "telefone": "(85) 99999-0001"},
    {"nome": "José Lima", "telefone": "(85) 98888-0002"},  # legacy WhatsApp id, without the 9th digit
    {"nome": "Ana Paula", "telefone": "(85) 97777-0003"},  # no WhatsApp
    {"nome": "Posto Central", "telefone": "(85) 3222-0004"},  # landline
]


def create_campaign(api, contacts=CONTACTS, name="Busca ativa") -> int:
    reply = api.post("/api/campanhas", json={"nome": name, "mensagem": "Olá! Sua consulta está disponível.",
                                             "contatos": contacts})
    assert reply.status_code == 201, reply.text
    return reply.json()["campanha"]["id"]


def start(api, campaign_id: int, action: str) -> dict:
    reply = api.post(f"/api/campanhas/{campaign_id}/{action}")
    assert reply.status_code == 202, reply.text
    body = reply.json()
    assert body["sucesso"] is True and body["task_id"] and body["status_url"]
    return body


def messages_by_outcome(stack) -> dict[str, float]:
    """The campaign worker's filas_campaign_messages_total, by outcome."""
    metrics = scrape(stack.config.campaign_metrics_port)
    outcomes = ("sent", "opted_out", "invalid_number", "failed", "outcome_unknown")
    return {outcome: sample(metrics, "filas_campaign_messages_total", outcome=outcome) for outcome in outcomes}


def ended(body: dict) -> bool:
    return body.get("status") in ("finished", "failed", "cancelled")


def gateway_knows_contacts(whatsapp_sim) -> None:
    """The simulator as CONTACTS describe it: Ana Paula without WhatsApp, José Lima by his old id."""
    whatsapp_sim.post("/_sim/config", json={"without_whatsapp": ["5585977770003"],
                                            "legacy_numbers": ["5585988880002"]}).raise_for_status()


def test_create_validate_send_reaches_every_valid_contact_exactly_once(api, whatsapp_sim, stack_database_url):
    gateway_knows_contacts(whatsapp_sim)
    campaign_id = create_campaign(api)

    validation = api.wait_until(start(api, campaign_id, "validar")["status_url"], ended)
    assert validation["status"] == "finished", validation
    assert validation["resultado"] == {"campanha_id": campaign_id, "validos": 2, "invalidos": 2,
                                       "numeros_verificados": True}
    assert validation["progresso"] == {"feitos": 4, "total": 4, "percentual": 100.0}

    sending = api.wait_until(start(api, campaign_id, "enviar")["status_url"], ended)
    assert sending["status"] == "finished", sending
    assert sending["progresso"]["feitos"] == sending["progresso"]["total"] == 2
    assert sending["resultado"]["enviada"] == 2

    messages = whatsapp_sim.get("/_sim/messages").json()
    assert sorted(m["e164"] for m in messages) == ["5585988880002", "5585999990001"]
    assert all(m["text"] == "Olá! Sua consulta está disponível." for m in messages)
    campaign = api.get(f"/api/campanhas/{campaign_id}").json()["campanha"]
    assert campaign["status"] == "enviada"
    assert campaign["mensagens"] == {"enviada": 2}
    with session_scope(stack_database_url) as session:
        legacy = session.scalars(select(Contact).where(Contact.telefone == "5585988880002")).one()
    assert legacy.whatsapp_id == "558588880002@s.whatsapp.net"


def test_opted_out_numbers_get_nothing(api, whatsapp_sim, stack):
    campaign_id = create_campaign(api, CONTACTS[:2])
    assert api.post("/api/optouts", json={"telefone": "(85) 99999-0001"}).status_code == 201
    api.wait_until(start(api, campaign_id, "validar")["status_url"], ended)
    counted_before = messages_by_outcome(stack)

    sending = api.wait_until(start(api, campaign_id, "enviar")["status_url"], ended)

    assert sending["resultado"] == {"campanha_id": campaign_id, "enviada": 1, "ignorada": 1}
    assert [m["e164"] for m in whatsapp_sim.get("/_sim/messages").json()] == ["5585988880002"]
    counted = messages_by_outcome(stack)
    assert {outcome: counted[outcome] - counted_before[outcome] for outcome in counted} == {
        "sent": 1, "opted_out": 1, "invalid_number": 0, "failed": 0, "outcome_unknown": 0}


def test_a_cancelled_queued_task_never_runs(api, whatsapp_sim, stack_redis, stack_database_url):
    # Keep every campaign-worker thread (4) busy with slow validations, so the next task waits in the queue.
    blocking_campaigns = [create_campaign(api, CONTACTS[:1], f"bloqueio {n}") for n in range(4)]
    waiting_campaign = create_campaign(api, CONTACTS[1:2], "a cancelar")
    whatsapp_sim.post("/_sim/config", json={"latency_ms": 8000}).raise_for_status()
    blockers = [start(api, campaign_id, "validar") for campaign_id in blocking_campaigns]
    waiting = start(api, waiting_campaign, "validar")

    cancel = api.post(f"/api/task/{waiting['task_id']}/cancel")

    assert cancel.status_code == 200, cancel.text
    assert cancel.json()["status"] == "cancelled"
    for blocker in blockers:
        assert api.wait_until(blocker["status_url"], ended)["status"] == "finished"
    _wait_until_acknowledged(stack_redis, waiting["task_id"])
    assert api.get(waiting["status_url"]).json()["status"] == "cancelled"
    checked = {number for batch in whatsapp_sim.get("/_sim/checks").json() for number in batch}
    assert "5585988880002" not in checked
    with session_scope(stack_database_url) as session:
        campaign = session.get(Campaign, waiting_campaign)
        assert campaign.status == "rascunho"
        assert {c.whatsapp_status for c in campaign.contacts} == {"pendente"}


def test_cancelling_a_running_send_stops_it_at_the_next_contact(api, whatsapp_sim, stack_database_url):
    contacts = [{"nome": f"Paciente {n}", "telefone": f"(85) 99999-{n:04d}"} for n in range(1, 13)]
    campaign_id = create_campaign(api, contacts)
    api.wait_until(start(api, campaign_id, "validar")["status_url"], ended)
    whatsapp_sim.post("/_sim/config", json={"latency_ms": 1000}).raise_for_status()  # 12 s to send them all
    sending = start(api, campaign_id, "enviar")
    api.wait_until(sending["status_url"], lambda body: (body["progresso"] or {}).get("feitos", 0) >= 1)

    assert api.post(f"/api/task/{sending['task_id']}/cancel").status_code == 202

    final = api.wait_until(sending["status_url"], ended)
    assert final["status"] == "cancelled"
    sent = len(whatsapp_sim.get("/_sim/messages").json())
    assert 1 <= sent < len(contacts)
    assert api.get(f"/api/campanhas/{campaign_id}").json()["campanha"]["status"] == "cancelada"


def _wait_until_acknowledged(stack_redis, message_id: str, timeout: float = 60) -> None:
    """A worker has taken the message off the queue (run, or skipped) once its body leaves Redis."""
    import json
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        bodies = [json.loads(b) for b in stack_redis.hvals("dramatiq:campaigns.msgs")]
        if all(body["message_id"] != message_id for body in bodies):
            return
        time.sleep(0.2)
    raise AssertionError(f"message {message_id} is still in Redis after {timeout} s")


def message_statuses(database_url: str, campaign_id: int) -> dict[str, str]:
    """Contact's number → its first message's status."""
    from filas.db.models import CampaignMessage

    with session_scope(database_url) as session:
        return dict(session.execute(
            select(Contact.telefone, CampaignMessage.status)
            .join(CampaignMessage, CampaignMessage.contact_id == Contact.id)
            .where(CampaignMessage.campaign_id == campaign_id)
        ).all())


def test_a_gateway_refusing_the_key_fails_the_send_and_the_next_send_reaches_everyone_once(
        api, whatsapp_sim, stack_database_url):
    gateway_knows_contacts(whatsapp_sim)
    campaign_id = create_campaign(api)
    api.wait_until(start(api, campaign_id, "validar")["status_url"], ended)
    whatsapp_sim.post("/_sim/config", json={"fail_next_sends": 1, "fail_status": 401}).raise_for_status()

    failed = api.wait_until(start(api, campaign_id, "enviar")["status_url"], ended)

    assert failed["status"] == "failed", failed
    assert "gateway recusou" in failed["erro"] and "401" in failed["erro"]
    assert api.get(f"/api/campanhas/{campaign_id}").json()["campanha"]["status"] == "erro"
    assert "enviando" not in message_statuses(stack_database_url, campaign_id).values()  # none held for good
    assert whatsapp_sim.get("/_sim/messages").json() == []

    # The key is fixed: sending again reaches every valid contact, once.
    resent = api.wait_until(start(api, campaign_id, "enviar")["status_url"], ended)
    assert resent["status"] == "finished", resent
    received = [m["e164"] for m in whatsapp_sim.get("/_sim/messages").json()]
    assert sorted(received) == ["5585988880002", "5585999990001"]
    assert api.get(f"/api/campanhas/{campaign_id}").json()["campanha"]["status"] == "enviada"


def test_a_number_that_lost_whatsapp_after_validation_is_recorded_and_the_rest_is_sent(
        api, whatsapp_sim, stack_database_url):
    gateway_knows_contacts(whatsapp_sim)
    campaign_id = create_campaign(api)
    api.wait_until(start(api, campaign_id, "validar")["status_url"], ended)
    whatsapp_sim.post("/_sim/config", json={"without_whatsapp": ["5585977770003", "5585999990001"]}
                      ).raise_for_status()

    sending = api.wait_until(start(api, campaign_id, "enviar")["status_url"], ended)

    assert sending["status"] == "finished", sending
    assert sending["resultado"]["falhou"] == 1 and sending["resultado"]["enviada"] == 1
    assert message_statuses(stack_database_url, campaign_id) == {"5585999990001": "falhou",
                                                                 "5585988880002": "enviada"}
    assert [m["e164"] for m in whatsapp_sim.get("/_sim/messages").json()] == ["5585988880002"]


def test_a_paused_send_stops_and_resuming_sends_only_the_rest_once(api, stack, whatsapp_sim, stack_database_url):
    contacts = [{"nome": f"Paciente {n}", "telefone": f"(85) 99999-{n:04d}"} for n in range(1, 9)]
    campaign_id = create_campaign(api, contacts)
    api.wait_until(start(api, campaign_id, "validar")["status_url"], ended)
    whatsapp_sim.post("/_sim/config", json={"latency_ms": 500}).raise_for_status()  # the default pace: 1 a second
    sending = start(api, campaign_id, "enviar")
    api.wait_until(sending["status_url"], lambda body: (body["progresso"] or {}).get("feitos", 0) >= 2)

    paused = api.post(f"/api/campanhas/{campaign_id}/pausar")

    assert paused.status_code in (200, 202), paused.text
    assert api.wait_until(sending["status_url"], ended)["status"] == "cancelled"
    campaign = api.get(f"/api/campanhas/{campaign_id}").json()["campanha"]
    assert campaign["status"] == "pausada"
    sent_before = {m["e164"] for m in whatsapp_sim.get("/_sim/messages").json()}
    assert 2 <= len(sent_before) < len(contacts)
    assert campaign["progresso"] == {"feitos": len(sent_before), "total": len(contacts)}
    progress = scrape(stack.config.api_port)  # what a dashboard shows of a campaign still under way
    assert sample(progress, "filas_campaign_contacts", campaign_id=str(campaign_id), state="done") == len(sent_before)
    assert sample(progress, "filas_campaign_contacts", campaign_id=str(campaign_id),
                  state="remaining") == len(contacts) - len(sent_before)
    assert "enviando" not in message_statuses(stack_database_url, campaign_id).values()
    assert api.post(f"/api/campanhas/{campaign_id}/pausar").status_code == 409  # nothing to pause now

    resumed = api.wait_until(start(api, campaign_id, "enviar")["status_url"], ended)

    assert resumed["status"] == "finished", resumed
    received = [m["e164"] for m in whatsapp_sim.get("/_sim/messages").json()]
    assert sorted(received) == sorted(f"558599999{n:04d}" for n in range(1, 9))  # everyone, once
    campaign = api.get(f"/api/campanhas/{campaign_id}").json()["campanha"]
    assert campaign["status"] == "enviada" and campaign["progresso"] == {"feitos": 8, "total": 8}
    assert f'campaign_id="{campaign_id}"' not in scrape(stack.config.api_port)  # its series end with its send
