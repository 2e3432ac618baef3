"""The daily follow-up, run by a real campaign worker under a faked clock (10:30 in Fortaleza), sends each
campaign's follow-up text with the contact's fields filled in, when and as often as the campaign says.

One message is sent: a second would wait for its paced slot, and a thread's timed wait never ends under
libfaketime (tests/faked_clock.py)."""

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime

import httpx
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker
from faked_clock import at_local, campaign_worker, faked_clock_env, libfaketime_or_skip
from waiting import wait_for

from filas import contracts
from filas.db.models import Campaign, CampaignMessage, CampaignStatus, Contact, MessageKind, MessageStatus
from filas.db.session import session_scope
from filas.jobs import JobStore
from filas_simulators import whatsapp
from filas_simulators.serving import LocalServer, serve_in_thread

API_KEY = "follow-up-messages-key"
DAY = date(2026, 11, 24)
YESTERDAY = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


@pytest.fixture
def simulator() -> Iterator[LocalServer]:
    with serve_in_thread(whatsapp.create_app(api_key=API_KEY, instance="filas")) as server:
        yield server


def add_campaign(follow_up_text: str, contacts: dict[str, tuple[str, dict]], **columns) -> None:
    """Contacts (number → name, fields) whose first message left yesterday afternoon."""
    with session_scope() as session:
        campaign = Campaign(nome="Busca ativa", mensagem="Olá!", mensagem_follow_up=follow_up_text,
                            status=CampaignStatus.SENT, **columns)
        for telefone, (nome, campos) in contacts.items():
            campaign.contacts.append(Contact(nome=nome, telefone=telefone, campos=campos, whatsapp_status="valido"))
        session.add(campaign)
        session.flush()
        for contact in campaign.contacts:
            session.add(CampaignMessage(campaign_id=campaign.id, contact_id=contact.id, tipo=MessageKind.INITIAL,
                                        status=MessageStatus.SENT, enviado_em=YESTERDAY))


def test_each_contact_gets_the_follow_up_in_their_own_words(configure, redis_url, database_url, simulator, tmp_path):
    configure(FILAS_REDIS_URL=redis_url, FILAS_DATABASE_URL=database_url)
    add_campaign("Olá, {nome}! Sua consulta é em {data_consulta}. Confirma?",
                 {"5585999990601": ("Maria", {"data_consulta": "01/12"})})
    add_campaign("Ainda podemos ajudar, {nome}?", {"5585999990602": ("Ana", {})}, follow_up_dias=2)
    add_campaign("Ainda podemos ajudar, {nome}?", {"5585999990603": ("José", {})}, follow_up_max=0)
    env = {**os.environ, "FILAS_REDIS_URL": redis_url, "FILAS_DATABASE_URL": database_url,
           "FILAS_EVOLUTION_URL": simulator.url, "FILAS_EVOLUTION_API_KEY": API_KEY,
           "FILAS_EVOLUTION_INSTANCE": "filas", "FILAS_SCHEDULE_TIMEZONE": "America/Fortaleza",
           **faked_clock_env(libfaketime_or_skip(), at_local(DAY, "10:30"))}
    broker, jobs = RedisBroker(url=redis_url), JobStore(redis.Redis.from_url(redis_url), 3600)
    log = tmp_path / "worker.log"

    try:
        with campaign_worker(env, log):
            message = broker.enqueue(contracts.FOLLOW_UP.message())

            def final():
                job = jobs.get(message.message_id)
                return job if job is not None and job.status.is_final else None

            job = wait_for(final, 90, "the follow-up ending", details=log.read_text)
    finally:
        broker.close()
        jobs.client.close()

    assert job.status == "finished", job
    sent = httpx.get(f"{simulator.url}/_sim/messages").json()
    # Ana's campaign waits two days; José's sends no follow-up at all.
    assert [(m["e164"], m["text"]) for m in sent] == [
        ("5585999990601", "Olá, Maria! Sua consulta é em 01/12. Confirma?")]
    assert job.result["contatos"] == 1
