"""A delivery that its job view refused counts in filas_jobs_cancelled_total only when its job was cancelled:
WorkerMetrics learns why from the view's own start answer (filas.middleware.VIEW_STATUS), on a real Redis with
a real Dramatiq worker in this process."""

import dramatiq
from dramatiq.middleware import Retries
from waiting import wait_for

from filas.broker import build_broker, get_job_store
from filas.jobs import JobStatus
from filas.settings import get_settings
from filas.worker_metrics import WorkerMetrics

QUEUE = "skip-metrics-test"
ACTOR = "test.skipped"


def counted(metrics: WorkerMetrics, counter: str) -> float:
    samples = getattr(metrics.metrics, counter).collect()[0].samples
    return sum(s.value for s in samples if s.name.endswith("_total") and s.labels == {"queue": QUEUE, "actor": ACTOR})


def test_only_skips_of_cancelled_jobs_count_as_cancelled(configure, redis_url, database_url, redis_client):
    configure(FILAS_REDIS_URL=redis_url, FILAS_DATABASE_URL=database_url)
    broker = build_broker(get_settings())
    metrics = WorkerMetrics()
    broker.add_middleware(metrics, before=Retries)
    ran = []
    actor = dramatiq.actor(ran.append, broker=broker, actor_name=ACTOR, queue_name=QUEUE, max_retries=0)
    store = get_job_store()
    cancelled_while_queued = actor.send("queued")
    store.request_cancel(cancelled_while_queued.message_id, QUEUE, "cancelado")
    asked_to_stop = actor.send("running")
    store.start(asked_to_stop.message_id, ACTOR, QUEUE)  # its first delivery runs it, then is lost
    store.request_cancel(asked_to_stop.message_id, QUEUE, "cancelado")
    already_ended = actor.send("ended")
    store.finish(already_ended.message_id, ACTOR, QUEUE, JobStatus.FINISHED)  # then delivered again

    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        wait_for(lambda: redis_client.hlen(f"dramatiq:{QUEUE}.msgs") == 0, timeout=20,
                 what="every message acknowledged")
    finally:
        worker.stop(timeout=10_000)
        broker.close()

    assert ran == []
    assert (counted(metrics, "cancelled"), counted(metrics, "started")) == (2, 0)
