"""`filas-portal-worker`, the console script, run as a subprocess on a real Redis and PostgreSQL: --status
counts real messages; the emergency commands change nothing without --yes and do what they say with it,
leaving rows a person can act on; the worker flags start a real worker that books and stops on SIGTERM."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from rows import accepted_booking
from test_dead_letters import failed_booking
from waiting import wait_for

from filas.db.models import Booking, BookingStatus
from filas.db.session import session_scope
from filas.jobs import JobStatus

SCRIPT = str(Path(sys.executable).parent / "filas-portal-worker")
QUEUE = "atacadao"


@pytest.fixture
def env(configure, redis_url, database_url, tmp_path) -> dict[str, str]:
    configure(FILAS_REDIS_URL=redis_url, FILAS_DATABASE_URL=database_url)
    return {**{k: v for k, v in os.environ.items() if not k.startswith("FILAS_")},
            "FILAS_REDIS_URL": redis_url, "FILAS_DATABASE_URL": database_url, "FILAS_LOG_FORMAT": "plain",
            "FILAS_METRICS_PORT": "0", "FILAS_METRICS_DIR": str(tmp_path / "metrics")}


@pytest.fixture
def client(redis_url):
    with redis.Redis.from_url(redis_url) as connection:
        yield connection


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SCRIPT, *args], check=False, env=env, capture_output=True, text=True, timeout=60)


def enqueued_booking(load: str, delay_ms: int | None = None) -> int:
    from filas.broker import setup_broker

    booking_id, message = accepted_booking(load)
    setup_broker().enqueue(message, delay=delay_ms)
    return booking_id


def row(booking_id: int) -> Booking:
    with session_scope() as session:
        return session.get(Booking, booking_id)


def test_status_prints_the_counts_of_real_queued_delayed_and_dead_messages(env, client):
    for n in range(3):
        enqueued_booking(f"READY-{n}")
    enqueued_booking("DELAYED-1", delay_ms=600_000)
    failed_booking(client, "DEAD-1", "rid-1")

    table = cli(env, "--status")
    as_json = cli(env, "--status", "--json")

    assert table.returncode == 0, table.stderr
    header, *lines = table.stdout.splitlines()
    assert header.split()[:8] == ["queue", "ready", "delayed", "running", "dead", "finished", "failed", "cancelled"]
    [atacadao] = [line.split() for line in lines if line.startswith(QUEUE)]
    assert atacadao[1:5] == ["3", "1", "0", "1"]
    assert json.loads(as_json.stdout)[QUEUE] == {"pendentes": 4, "em_execucao": 0, "concluidos": 0, "falhados": 0,
                                                  "cancelados": 0, "mortos": 1}


def test_emptying_a_queue_needs_yes_then_cancels_every_waiting_job(env, client):
    waiting = [enqueued_booking(f"EMPTY-{n}") for n in range(2)] + [enqueued_booking("EMPTY-D", delay_ms=600_000)]

    refused = cli(env, "--empty-queue", QUEUE)

    assert refused.returncode == 2
    assert "would empty queue atacadao: 3 waiting messages" in refused.stdout and "--yes" in refused.stdout
    assert (client.llen(f"dramatiq:{QUEUE}"), client.llen(f"dramatiq:{QUEUE}.DQ")) == (2, 1)
    assert {row(i).job_status for i in waiting} == {JobStatus.QUEUED}

    done = cli(env, "--empty-queue", QUEUE, "--yes")

    assert done.returncode == 0, done.stderr
    assert "3 messages removed; jobs: 3 cancelled" in done.stdout
    assert (client.llen(f"dramatiq:{QUEUE}"), client.llen(f"dramatiq:{QUEUE}.DQ")) == (0, 0)
    assert client.hlen(f"dramatiq:{QUEUE}.msgs") == client.hlen(f"dramatiq:{QUEUE}.DQ.msgs") == 0
    for booking_id in waiting:  # closed, not left waiting: the load can be booked or reprocessed again
        closed = row(booking_id)
        assert (closed.status, closed.job_status) == (BookingStatus.CANCELLED, JobStatus.CANCELLED)
        assert closed.mensagem == "cancelado pelo operador: fila esvaziada"


def test_requeueing_dead_letters_needs_yes_then_sends_them_again(env, client):
    booking_id, message = failed_booking(client, "DEAD-2", "rid-2")

    refused = cli(env, "--requeue-dead", QUEUE)

    assert refused.returncode == 2
    assert "would requeue 1 dead letters of queue atacadao" in refused.stdout
    assert client.zcard(f"dramatiq:{QUEUE}.XQ") == 1 and client.llen(f"dramatiq:{QUEUE}") == 0
    assert row(booking_id).status == BookingStatus.ERROR

    done = cli(env, "--requeue-dead", QUEUE, "--yes")

    assert done.returncode == 0, done.stderr
    assert "requeued dead letters of queue atacadao: 1 requeued" in done.stdout
    assert client.zcard(f"dramatiq:{QUEUE}.XQ") == 0 and client.llen(f"dramatiq:{QUEUE}") == 1
    waiting = row(booking_id)
    assert (waiting.status, waiting.job_status, waiting.job_id) == (
        BookingStatus.PENDING, JobStatus.QUEUED, message.message_id)


def test_an_unknown_queue_is_refused(env):
    result = cli(env, "--empty-queue", "nope", "--yes")
    assert result.returncode == 2 and "unknown queue 'nope'" in result.stderr
    result = cli(env, "--queues", "campaigns")
    assert result.returncode == 2 and "the portal worker serves atacadao" in result.stderr


@pytest.mark.chromium
def test_the_worker_flags_start_a_worker_that_books_and_stops_on_sigterm(env, portal_sim, chromium_path):
    env |= {"FILAS_PORTAL_URL": portal_sim.url, "FILAS_PORTAL_USERNAME": portal_sim.username,
            "FILAS_PORTAL_PASSWORD": portal_sim.password, "FILAS_CHROMIUM_PATH": chromium_path}
    booking_id = enqueued_booking("CLI-WORKER-1")
    worker = subprocess.Popen([SCRIPT, "--workers", "1", "--queues", QUEUE, "--verbose"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        wait_for(lambda: row(booking_id).status == BookingStatus.BOOKED, 120, "the booking made")
        assert [made["lote"] for made in portal_sim.bookings()] == ["CLI-WORKER-1"]
        started = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    assert worker.returncode == 0, output
    assert time.monotonic() - started < 60
    assert "DEBUG" in output  # --verbose
