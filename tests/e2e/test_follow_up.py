"""The daily follow-up, enqueued by name as the scheduler does, the morning after the campaign went out.

The follow-up only runs in its morning window (09:00 until FILAS_FOLLOW_UP_CATCH_UP_UNTIL, Fortaleza), so
whatever time the test runs at, it is run by a campaign worker whose clock says 10:30 tomorrow (libfaketime),
on the stack's database and WhatsApp gateway, fed from a Redis of its own: the stack's campaign worker, on
today's clock, never takes its messages."""

import os
from datetime import timedelta

import redis
from dramatiq.brokers.redis import RedisBroker
from faked_clock import FORTALEZA, at_local, campaign_worker, faked_clock_env, libfaketime_or_skip
from test_campaign_flow import ended, start
from waiting import wait_for

from filas import contracts
from filas.clock import utcnow
from filas.jobs import Job, JobStore

CONTACTS = [
    {"nome": "Responde", "telefone": "(85) 99999-0101"},
    {"nome": "Pede para sair", "telefone": "(85) 99999-0102"},
    {"nome": "Em silêncio", "telefone": "(85) 99999-0103"},
]


def test_follow_up_reaches_only_who_did_not_answer_once_a_day(api, stack, whatsapp_sim, redis_url, tmp_path):
    whatsapp_sim.post("/_sim/config", json={"webhook_url": stack.config.webhook_url}).raise_for_status()
    reply = api.post("/api/campanhas", json={"nome": "Follow-up", "mensagem": "Olá!",
                                             "mensagem_follow_up": "Ainda podemos ajudar?", "contatos": CONTACTS})
    campaign_id = reply.json()["campanha"]["id"]
    api.wait_until(start(api, campaign_id, "validar")["status_url"], ended)
    api.wait_until(start(api, campaign_id, "enviar")["status_url"], ended)
    for number, text in [("5585999990101", "Oi, recebi"), ("5585999990102", "SAIR")]:
        answer = whatsapp_sim.post("/_sim/reply", json={"number": number, "text": text}).json()
        assert answer["webhook"]["status"] == 200, answer
    whatsapp_sim.post("/_sim/reset").raise_for_status()

    tomorrow = (utcnow().astimezone(FORTALEZA) + timedelta(days=1)).date()
    env = {name: value for name, value in os.environ.items() if not name.startswith("FILAS_")} | {
        "FILAS_DATABASE_URL": stack.config.database_url, "FILAS_REDIS_URL": redis_url,
        "FILAS_EVOLUTION_URL": stack.whatsapp_url, "FILAS_EVOLUTION_INSTANCE": stack.config.evolution_instance,
        "FILAS_EVOLUTION_API_KEY": stack.config.secrets.evolution_api_key,
        **faked_clock_env(libfaketime_or_skip(), at_local(tomorrow, "10:30")),
    }
    broker, jobs = RedisBroker(url=redis_url), JobStore(redis.Redis.from_url(redis_url), 3600)
    log = tmp_path / "campaign-worker.log"

    def run(message) -> Job:
        broker.enqueue(message)

        def final() -> Job | None:
            job = jobs.get(message.message_id)
            return job if job is not None and job.status.is_final else None

        return wait_for(final, 120, f"follow-up {message.message_id} ending", details=log.read_text)

    try:
        with campaign_worker(env, log):
            first = run(contracts.FOLLOW_UP.message())
            assert first.status == "finished", first
            assert [(m["e164"], m["text"]) for m in whatsapp_sim.get("/_sim/messages").json()] == [
                ("5585999990103", "Ainda podemos ajudar?")]

            second = run(contracts.FOLLOW_UP.message())
    finally:
        broker.close()
        jobs.client.close()
    assert second.status == "finished" and second.result["motivo"] == "já executado hoje", second
    assert len(whatsapp_sim.get("/_sim/messages").json()) == 1  # same day: nobody hears twice
