"""A job's result is kept on its row as well as in its Redis view: the task status answers with it when the
view has none — before the view's final write (the row is written first) and after the view's retention —
on PostgreSQL and on the SQLite of `make run`."""

import threading
import uuid
from collections.abc import Iterator
from datetime import date

import dramatiq
import pytest
from waiting import wait_for

from filas import contracts, lifecycle
from filas.broker import build_broker, get_job_store
from filas.db.models import Campaign, CampaignStatus
from filas.db.session import session_scope
from filas.jobs import JobStatus
from filas.settings import get_settings

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
QUEUE = "job-result-test"
RESULT = {"validos": 2, "invalidos": 1}


@pytest.fixture
def status_of(configure, redis_url: str, database: str):
    configure(FILAS_REDIS_URL=redis_url, FILAS_API_TOKENS=TOKEN)
    from filas_api.app import create_app

    client = create_app().test_client()

    def status_of(job_id: str) -> dict:
        reply = client.get(f"/api/task/{job_id}/status", headers=AUTH)
        assert reply.status_code == 200, reply.get_data(as_text=True)
        return reply.get_json()

    return status_of


def validating_campaign(job_id: str) -> int:
    """A campaign whose validation `job_id` was accepted (row committed, job queued), as the API leaves it."""
    with session_scope() as session:
        campaign = Campaign(nome="c", mensagem="m", status=CampaignStatus.VALIDATING, validacao_job_id=job_id)
        session.add(campaign)
        session.flush()
        lifecycle.queue(campaign, job_id)
        return campaign.id


def campaign_row(campaign_id: int) -> Campaign:
    with session_scope() as session:
        return session.get(Campaign, campaign_id)


def forget_view(job_id: str) -> None:
    """The view's retention ran out."""
    get_job_store().client.delete(get_job_store().PREFIX + job_id)


def test_between_the_rows_final_write_and_the_views_the_status_has_the_result(status_of):
    job_id = str(uuid.uuid4())
    campaign_id = validating_campaign(job_id)
    get_job_store().record_queued(job_id, contracts.VALIDATE_NUMBERS.name, QUEUE)
    assert get_job_store().start(job_id, contracts.VALIDATE_NUMBERS.name, QUEUE)
    held = lifecycle.claim(Campaign, job_id, lifecycle.delivery_owner(), lease_seconds=60)

    lifecycle.finish(held, JobStatus.FINISHED, result=RESULT)  # as RowLifecycleMiddleware, before the view

    assert get_job_store().get(job_id).status == JobStatus.STARTED
    status = status_of(job_id)
    assert (status["status"], status["resultado"]) == ("finished", RESULT)
    assert campaign_row(campaign_id).status == CampaignStatus.VALIDATED


@pytest.fixture
def worker_broker(status_of) -> Iterator[dramatiq.Broker]:
    broker = build_broker(get_settings())
    yield broker
    broker.close()


def test_a_finished_jobs_result_is_on_its_row_and_in_its_status_after_the_views_retention(worker_broker, status_of):
    done = threading.Event()

    def validate(campaign_id: int) -> dict:  # a row-bound actor: the row is claimed and closed around it
        done.set()
        return {**RESULT, "em": date(2026, 1, 2)}

    actor = dramatiq.actor(validate, broker=worker_broker, actor_name=contracts.VALIDATE_NUMBERS.name,
                           queue_name=QUEUE, max_retries=0)
    message = actor.message(0)
    campaign_id = validating_campaign(message.message_id)
    worker_broker.enqueue(message)
    worker = dramatiq.Worker(worker_broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        wait_for(lambda: campaign_row(campaign_id).job_status == JobStatus.FINISHED, timeout=30,
                 what="the job's row finished")
    finally:
        worker.stop(timeout=10_000)

    expected = {**RESULT, "em": "2026-01-02"}  # as JSON says it, in the view and on the row alike
    assert done.is_set() and campaign_row(campaign_id).job_result == expected
    assert status_of(message.message_id)["resultado"] == expected
    forget_view(message.message_id)
    status = status_of(message.message_id)
    assert (status["status"], status["resultado"]) == ("finished", expected)
