"""GET /portal/api/status-filas and /metrics count real Dramatiq messages in every state, from one read of
the broker's keys (filas.queue_depth): ready and delayed (also a delayed message a worker holds in memory),
running in a real in-process worker, dead-lettered by it; finished/failed/cancelled from the outcome
counters the job-state scripts keep."""

import datetime as dt
import threading
from collections.abc import Iterator

import dramatiq
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker

from filas_devtools.ports import wait_until

AUTH = {"Authorization": "Bearer test-token"}  # accepted by the `client` fixture
WAIT = 20  # seconds


def message(queue: str, actor_name: str = "test.anything") -> dramatiq.Message:
    return dramatiq.Message(queue_name=queue, actor_name=actor_name, args=(), kwargs={}, options={})


@pytest.fixture
def brokers(redis_url: str) -> Iterator[tuple[RedisBroker, RedisBroker]]:
    """(a producer's broker, a worker's broker) on the test run's Redis."""
    producer, consumer = RedisBroker(url=redis_url), RedisBroker(url=redis_url)
    yield producer, consumer
    producer.close()
    consumer.close()


def test_status_filas_and_metrics_count_real_messages_in_every_state(client, brokers, redis_client: redis.Redis):
    producer, worker_broker = brokers
    started, release = threading.Event(), threading.Event()

    def blocks():
        started.set()
        release.wait(WAIT)

    def explodes():
        raise RuntimeError("boom")

    # The worker consumes atacadao (and atacadao.DQ) and maintenance; nobody consumes campaigns.
    dramatiq.actor(blocks, actor_name="test.blocks", queue_name="atacadao", broker=worker_broker)
    dramatiq.actor(explodes, actor_name="test.explodes", queue_name="maintenance", broker=worker_broker,
                   max_retries=0)
    producer.enqueue(message("campaigns"))
    producer.enqueue(message("campaigns"))
    producer.enqueue(message("campaigns"), delay=60_000)
    for outcome, count in (("finished", 5), ("failed", 2), ("cancelled", 1)):
        redis_client.hincrby("filas:queue_outcomes:atacadao", outcome, count)

    worker = dramatiq.Worker(worker_broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        producer.enqueue(message("atacadao", "test.blocks"))
        producer.enqueue(message("atacadao", "test.blocks"), delay=60_000)
        producer.enqueue(message("maintenance", "test.explodes"))
        held = f"dramatiq:__acks__.{worker_broker.broker_id}.atacadao.DQ"
        wait_until(started.is_set, WAIT, "the blocking actor running")
        wait_until(lambda: redis_client.zcard("dramatiq:maintenance.XQ") == 1, WAIT, "the failure dead-lettered")
        wait_until(lambda: redis_client.scard(held) == 1, WAIT, "the worker holding the delayed message")

        reply = client.get("/portal/api/status-filas", headers=AUTH)
        metrics = client.get("/metrics").get_data(as_text=True)
    finally:
        release.set()
        worker.stop(timeout=10_000)

    assert reply.status_code == 200
    body = reply.get_json()
    assert body["success"] is True
    filas = body["filas"]
    counts = ("pendentes", "em_execucao", "concluidos", "falhados", "cancelados", "mortos")
    assert {key: filas["atacadao"][key] for key in counts} == dict(zip(counts, (1, 1, 5, 2, 1, 0), strict=True))
    assert {key: filas["campaigns"][key] for key in counts} == dict(zip(counts, (3, 0, 0, 0, 0, 0), strict=True))
    assert {key: filas["maintenance"][key] for key in counts} == dict(zip(counts, (0, 0, 0, 0, 0, 1), strict=True))
    assert filas["atacadao"]["redis"] == {"ready": 0, "delayed": 1, "dead": 0, "in_flight": 1,
                                          "oldest_ready_age_seconds": None, "awaiting_recovery": 0}
    assert (filas["campaigns"]["redis"]["ready"], filas["campaigns"]["redis"]["delayed"]) == (2, 1)
    assert 0 <= filas["campaigns"]["redis"]["oldest_ready_age_seconds"] < 60
    assert all(queue["jobs"] == [] for queue in filas.values())  # no job state for bare broker messages

    assert "filas_redis_up 1.0" in metrics
    for queue, state, value in [
        ("atacadao", "ready", 0), ("atacadao", "delayed", 1), ("atacadao", "in_flight", 1), ("atacadao", "dead", 0),
        ("campaigns", "ready", 2), ("campaigns", "delayed", 1), ("campaigns", "in_flight", 0),
        ("maintenance", "dead", 1), ("maintenance", "ready", 0),
    ]:
        assert f'filas_queue_messages{{queue="{queue}",state="{state}"}} {value:.1f}' in metrics, (queue, state)
    assert 'filas_queue_oldest_message_age_seconds{queue="atacadao"} 0.0' in metrics
    assert 'filas_queue_oldest_message_age_seconds{queue="campaigns"}' in metrics


def test_status_filas_lists_recent_jobs_and_counts_queued_bookings(client):
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    job_ids = {
        client.post("/portal/api/solicitar-agendamento-async", headers=AUTH, json={
            "lote_id": f"FILA-{n}", "data_agendamento": tomorrow, "hora_agendamento": "09:00",
            "transportadora": "Agregado", "tipo_veiculo": "11"}).get_json()["job_id"]
        for n in range(3)
    }

    reply = client.get("/portal/api/status-filas", headers=AUTH)

    assert reply.status_code == 200
    atacadao = reply.get_json()["filas"]["atacadao"]
    assert (atacadao["pendentes"], atacadao["em_execucao"], atacadao["redis"]["ready"]) == (3, 0, 3)
    assert {job["job_id"] for job in atacadao["jobs"]} == job_ids
    assert all(job["status"] == "queued" and job["tipo"] == "portal.schedule_booking" for job in atacadao["jobs"])


def test_metrics_say_redis_is_down_when_it_is(configure, client):
    configure(FILAS_REDIS_URL="redis://127.0.0.1:1/0")

    metrics = client.get("/metrics").get_data(as_text=True)

    assert "filas_redis_up 0.0" in metrics
    assert "filas_queue_messages{" not in metrics
