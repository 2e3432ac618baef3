"""The daily follow-up runs once per local day, only that day and before the catch-up cut-off.

The campaign worker runs as users run it (`dramatiq filas_campaigns.worker`) under a faked clock, against
the real Redis and PostgreSQL and the WhatsApp simulator; messages are enqueued by name, as the scheduler
does (with periodiq's `scheduled_at`) or by hand (without)."""

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import dramatiq
import httpx
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker
from faked_clock import at_local, campaign_worker, faked_clock_env, libfaketime_or_skip
from sqlalchemy import select
from waiting import wait_for

from filas import contracts
from filas.db.models import (
    Campaign,
    CampaignMessage,
    CampaignStatus,
    Contact,
    MessageKind,
    MessageStatus,
    OptOut,
    PeriodicRun,
    WhatsappStatus,
)
from filas.db.session import session_scope
from filas.jobs import Job, JobStore
from filas.phones import phone_key
from filas_simulators import whatsapp
from filas_simulators.serving import LocalServer, serve_in_thread

API_KEY = "follow-up-test-key"
DAY = date(2026, 11, 24)
YESTERDAY_NOON = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # when the campaigns' first messages went out
FOLLOW_UP_TEXT = "Ainda podemos ajudar?"
SILENT = "5585999990201"


@pytest.fixture(scope="module")
def simulator() -> Iterator[LocalServer]:
    with serve_in_thread(whatsapp.create_app(api_key=API_KEY, instance="filas")) as server:
        yield server


@pytest.fixture
def worker_env(configure, redis_url: str, database_url: str, simulator: LocalServer) -> dict[str, str]:
    configure(FILAS_REDIS_URL=redis_url, FILAS_DATABASE_URL=database_url)
    return {**os.environ, "FILAS_REDIS_URL": redis_url, "FILAS_DATABASE_URL": database_url,
            "FILAS_EVOLUTION_URL": simulator.url, "FILAS_EVOLUTION_API_KEY": API_KEY,
            "FILAS_EVOLUTION_INSTANCE": "filas", "FILAS_SCHEDULE_TIMEZONE": "America/Fortaleza",
            "FILAS_FOLLOW_UP_CATCH_UP_UNTIL": "12:00"}


@pytest.fixture
def broker(redis_url: str) -> Iterator[RedisBroker]:
    broker = RedisBroker(url=redis_url)
    yield broker
    broker.close()


@pytest.fixture
def jobs(redis_url: str) -> Iterator[JobStore]:
    client = redis.Redis.from_url(redis_url)
    yield JobStore(client, 3600)
    client.close()


def add_campaign(status: str, contacts: dict[str, dict], nome: str = "Busca ativa") -> int:
    """A campaign whose first message reached each contact yesterday; contacts: phone → extra fields."""
    with session_scope() as session:
        campaign = Campaign(nome=nome, mensagem="Olá!", mensagem_follow_up=FOLLOW_UP_TEXT, status=status)
        for telefone, extra in contacts.items():
            campaign.contacts.append(Contact(nome=telefone, telefone=telefone,
                                             whatsapp_status=WhatsappStatus.VALID, **extra))
        session.add(campaign)
        session.flush()
        for contact in campaign.contacts:
            session.add(CampaignMessage(campaign_id=campaign.id, contact_id=contact.id, tipo=MessageKind.INITIAL,
                                        status=MessageStatus.SENT, enviado_em=YESTERDAY_NOON))
        return campaign.id


def scheduled(day: date, hh_mm: str = "09:00") -> dramatiq.Message:
    """The message as the scheduler sends it for `day` (periodiq's option)."""
    message = contracts.FOLLOW_UP.message()
    return message.copy(options={"scheduled_at": at_local(day, hh_mm).isoformat()})


def final_job(jobs: JobStore, message: dramatiq.Message, log: Path) -> Job:
    def ended() -> Job | None:
        job = jobs.get(message.message_id)
        return job if job is not None and job.status.is_final else None

    return wait_for(ended, 90, f"follow-up {message.message_id} ending", details=log.read_text)


def sent(sim: httpx.Client) -> list[tuple[str, str]]:
    return [(message["e164"], message["text"]) for message in sim.get("/_sim/messages").json()]


def daily_runs() -> list[tuple[date, str, bool]]:
    with session_scope() as session:
        return [(run.referencia, run.job_id, run.finalizado_em is not None)
                for run in session.scalars(select(PeriodicRun).order_by(PeriodicRun.referencia))]


def test_two_deliveries_the_same_morning_send_each_follow_up_once(worker_env, broker, jobs, sim, tmp_path):
    add_campaign(CampaignStatus.SENT, {
        SILENT: {},
        "5585999990202": {"respondeu_em": YESTERDAY_NOON},  # answered
        "5585999990203": {},  # opted out, below
    })
    for status in (CampaignStatus.CANCELLED, CampaignStatus.ERROR, CampaignStatus.DRAFT):
        add_campaign(status, {"5585999990204": {}}, nome=status)
    with session_scope() as session:
        session.add(OptOut(telefone_hash=phone_key("5585999990203"), motivo="SAIR"))
    log = tmp_path / "worker.log"
    env = {**worker_env, **faked_clock_env(libfaketime_or_skip(), at_local(DAY, "10:30"))}

    with campaign_worker(env, log):
        # Sent at 09:00 while the workers were down: it waited in the queue, and still runs at 10:30.
        first = broker.enqueue(scheduled(DAY))
        first_job = final_job(jobs, first, log)
        assert first_job.status == "finished", first_job
        assert sent(sim) == [(SILENT, FOLLOW_UP_TEXT)]

        second = broker.enqueue(contracts.FOLLOW_UP.message())  # a second delivery, the same day
        second_job = final_job(jobs, second, log)

    assert first_job.result["contatos"] == 1 and first_job.result["referencia"] == "2026-11-24"
    assert second_job.status == "finished"
    assert second_job.result == {"referencia": "2026-11-24", "ignorado": True, "motivo": "já executado hoje"}
    assert sent(sim) == [(SILENT, FOLLOW_UP_TEXT)]  # nobody hears twice
    assert daily_runs() == [(DAY, first.message_id, True)]


def test_a_follow_up_delivered_in_the_evening_does_nothing(worker_env, broker, jobs, sim, tmp_path):
    add_campaign(CampaignStatus.SENT, {SILENT: {}})
    log = tmp_path / "worker.log"
    env = {**worker_env, **faked_clock_env(libfaketime_or_skip(), at_local(DAY, "19:00"))}

    with campaign_worker(env, log):
        message = broker.enqueue(scheduled(DAY))
        job = final_job(jobs, message, log)

    assert job.status == "finished"
    assert job.result["ignorado"] is True and "horário limite" in job.result["motivo"], job.result
    assert sent(sim) == []
    assert daily_runs() == []  # the day stays free: a morning run is still possible, but not this one
    assert "follow-up for 2026-11-24 not run" in log.read_text()


def test_a_follow_up_left_in_the_queue_since_yesterday_does_not_run_today(worker_env, broker, jobs, sim,
                                                                           tmp_path):
    add_campaign(CampaignStatus.SENT, {SILENT: {}})
    log = tmp_path / "worker.log"
    env = {**worker_env, **faked_clock_env(libfaketime_or_skip(), at_local(DAY, "10:30"))}

    with campaign_worker(env, log):
        stale = broker.enqueue(scheduled(date(2026, 11, 23)))
        job = final_job(jobs, stale, log)

    assert job.result["ignorado"] is True and job.result["referencia"] == "2026-11-23", job.result
    assert sent(sim) == []
    assert daily_runs() == []  # today's run is left to today's message (the scheduler sends it)
