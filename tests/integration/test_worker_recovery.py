"""A worker killed with SIGKILL mid-job (OOM, node loss): its job is redelivered to another worker in
tens of seconds, not the many minutes of Dramatiq's defaults (see notes/dramatiq-2.md; figures in
bench/dead_worker_redelivery.py), and the redelivered job does not do its work twice."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from rows import accepted_booking
from waiting import wait_for

from filas import contracts, lifecycle
from filas.db.models import Booking, BookingStatus, Campaign, CampaignStatus, Contact
from filas.db.session import session_scope
from filas_simulators import portal, whatsapp
from filas_simulators.serving import serve_in_thread

BIN = Path(sys.executable).parent


@contextmanager
def worker(module: str, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    process = subprocess.Popen([str(BIN / "dramatiq"), module, "--processes", "1", "--threads", "1"], env=env,
                               start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield process
    finally:
        kill(process)


def kill(process: subprocess.Popen) -> None:
    """SIGKILL to the whole group: the worker, its forks and (for the portal) its Chromium."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture
def services(configure, redis_url: str, database_url: str) -> dict[str, str]:
    configure(FILAS_REDIS_URL=redis_url, FILAS_DATABASE_URL=database_url)
    return {**os.environ, "FILAS_REDIS_URL": redis_url, "FILAS_DATABASE_URL": database_url,
            "FILAS_METRICS_PORT": "0"}


def kill_mid_job_and_redeliver(module: str, env: dict[str, str], message, simulator_url: str,
                               slow: dict, fast: dict) -> float:
    """Start a worker, let it take the job while the simulator hangs, kill -9 it, start another."""
    from filas.broker import get_job_store
    from filas.enqueue import send

    store = get_job_store()
    httpx.post(f"{simulator_url}/_sim/config", json=slow).raise_for_status()
    with worker(module, env) as first:
        send(message)
        wait_for(lambda: store.get(message.message_id).status == "started", 60, "the first worker starting the job")
        kill(first)
    httpx.post(f"{simulator_url}/_sim/config", json=fast).raise_for_status()
    with worker(module, env):
        killed_at = time.monotonic()
        wait_for(lambda: store.get(message.message_id).status in ("finished", "failed"), 180,
                           "redelivery to the second worker")
    assert store.get(message.message_id).status == "finished", store.get(message.message_id)
    elapsed = time.monotonic() - killed_at
    print(f"\n{module}: redelivered and finished {elapsed:.1f} s after kill -9")
    return elapsed


def test_a_killed_campaign_workers_job_is_redelivered(services):
    with serve_in_thread(whatsapp.create_app(api_key="k", instance="filas")) as gateway:
        env = {**services, "FILAS_EVOLUTION_URL": gateway.url, "FILAS_EVOLUTION_API_KEY": "k",
               "FILAS_GATEWAY_TIMEOUT_SECONDS": "120"}
        with session_scope() as session:
            campaign = Campaign(nome="c", mensagem="m", status=CampaignStatus.VALIDATING,
                                contacts=[Contact(nome="p", telefone="5585999990001")])
            session.add(campaign)
            session.flush()
            message = contracts.VALIDATE_NUMBERS.message(campaign_id=campaign.id)
            campaign.validacao_job_id = message.message_id
            lifecycle.queue(campaign, message.message_id)

        kill_mid_job_and_redeliver("filas_campaigns.worker", env, message, gateway.url,
                                   slow={"latency_ms": 60_000}, fast={"latency_ms": 0})

    with session_scope() as session:
        assert session.get(Campaign, campaign.id).status == CampaignStatus.VALIDATED


@pytest.mark.chromium
def test_a_killed_portal_workers_booking_is_redelivered_and_made_once(services, chromium_path):
    with serve_in_thread(portal.create_app("fornecedor", "senha")) as site:
        env = {**services, "FILAS_PORTAL_URL": site.url, "FILAS_PORTAL_USERNAME": "fornecedor",
               "FILAS_PORTAL_PASSWORD": "senha", "FILAS_CHROMIUM_PATH": chromium_path,
               "FILAS_PORTAL_TIMEOUT_MS": "120000"}
        booking_id, message = accepted_booking("LOTE-KILL")

        # The dead worker's lease on the row lapses (it renews it no more): the redelivery takes it over.
        kill_mid_job_and_redeliver("filas_portal.worker", env, message, site.url,
                                   slow={"delay_ms": 60_000}, fast={"delay_ms": 0})
        bookings = httpx.get(f"{site.url}/_sim/bookings").json()

    assert [booking["lote"] for booking in bookings] == ["LOTE-KILL"]
    with session_scope() as session:
        assert session.get(Booking, booking_id).status == BookingStatus.BOOKED
