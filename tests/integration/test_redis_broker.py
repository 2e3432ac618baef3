"""Filas's broker (filas.redis_broker, built by filas.broker.build_broker) on the test run's real Redis, with
a real Dramatiq worker in this process: job-view writes ride with the message's own enqueue and ack, a
fetched batch is started at once, none of that loses or repeats work when Redis forgets its scripts (a
restart keeps no script cache), and a busy worker holds no more messages than it has threads."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import dramatiq
import pytest
import redis
from waiting import wait_for

from filas.broker import build_broker, get_job_store
from filas.jobs import JobStatus
from filas.queue_depth import queue_depths
from filas.redis_broker import FilasRedisBroker
from filas.settings import get_settings

QUEUE = "broker-test"


@pytest.fixture
def broker(configure, redis_url: str, database_url: str) -> Iterator[FilasRedisBroker]:
    configure(FILAS_REDIS_URL=redis_url, FILAS_DATABASE_URL=database_url)
    broker = build_broker(get_settings())
    yield broker
    broker.close()


@pytest.fixture
def ran(broker: FilasRedisBroker) -> list[str]:
    """The labels the test actor ran with, in order."""
    return []


@pytest.fixture
def remember(broker: FilasRedisBroker, ran: list[str]) -> dramatiq.Actor:
    lock = threading.Lock()

    def remember(label: str) -> str:
        with lock:
            ran.append(label)
        return label

    return dramatiq.actor(remember, broker=broker, actor_name="test.remember", queue_name=QUEUE, max_retries=0)


@contextmanager
def running(broker: FilasRedisBroker, threads: int = 1) -> Iterator[dramatiq.Worker]:
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=100)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop(timeout=10_000)


def nothing_left(client: redis.Redis) -> bool:
    """No message body left: every message was acknowledged (or dead-lettered, checked apart)."""
    return client.hlen(f"dramatiq:{QUEUE}.msgs") == 0


def test_a_jobs_view_follows_it_from_queued_to_finished(broker, remember, ran, redis_client):
    message = remember.send("one")
    view = get_job_store().get(message.message_id)
    assert (view.status, view.redis_message_id) == (JobStatus.QUEUED, message.options["redis_message_id"])

    with running(broker):
        wait_for(lambda: nothing_left(redis_client), timeout=20, what="the message acknowledged")

    view = get_job_store().get(message.message_id)
    assert (view.status, view.result, ran) == (JobStatus.FINISHED, "one", ["one"])
    assert view.started_at is not None and view.finished_at >= view.started_at
    assert redis_client.hget(f"filas:queue_outcomes:{QUEUE}", "finished") == "1"


def test_a_job_cancelled_before_its_batch_is_fetched_never_runs(broker, remember, ran, redis_client):
    store = get_job_store()
    messages = [remember.send(label) for label in ("a", "b", "c", "d")]
    store.request_cancel(messages[2].message_id, QUEUE, "cancelado pelo operador")

    with running(broker):  # one thread: the consumer fetches the four in batches
        wait_for(lambda: nothing_left(redis_client), timeout=20, what="every message acknowledged")

    assert ran == ["a", "b", "d"]
    statuses = [store.get(message.message_id).status for message in messages]
    assert statuses == [JobStatus.FINISHED, JobStatus.FINISHED, JobStatus.CANCELLED, JobStatus.FINISHED]


def test_nothing_is_lost_or_done_twice_when_redis_forgets_its_scripts(broker, remember, ran, redis_client):
    redis_client.script_flush()
    sent = remember.send("after a flush")  # the enqueue pipeline finds neither its script nor Dramatiq's
    assert redis_client.llen(f"dramatiq:{QUEUE}") == 1
    assert get_job_store().get(sent.message_id).status == JobStatus.QUEUED

    redis_client.script_flush()  # and again before the ack that carries the finished view
    with running(broker):
        wait_for(lambda: nothing_left(redis_client), timeout=20, what="the message acknowledged")

    assert ran == ["after a flush"]
    assert get_job_store().get(sent.message_id).status == JobStatus.FINISHED
    assert redis_client.zcard(f"dramatiq:{QUEUE}.XQ") == 0


def test_a_busy_worker_leaves_the_waiting_jobs_for_another_worker(broker, redis_client):
    release = threading.Event()
    running_now = []

    def wait_for_release(n: int) -> None:
        running_now.append(n)
        release.wait(30)

    slow = dramatiq.actor(wait_for_release, broker=broker, actor_name="test.slow", queue_name=QUEUE, max_retries=0)
    for n in range(6):
        slow.send(n)

    with running(broker, threads=2):
        wait_for(lambda: len(running_now) == 2, timeout=20, what="both threads busy")
        depth = queue_depths(get_job_store().client, [QUEUE])[QUEUE]
        release.set()  # whatever the assertion says, let the worker stop
        assert (depth.in_flight, depth.ready) == (2, 4)  # Dramatiq alone would hold 4 (twice its threads)
        wait_for(lambda: nothing_left(redis_client), timeout=20, what="every message acknowledged")


def test_middleware_added_later_and_middleware_that_fails_are_treated_as_dramatiq_treats_them(
        broker, remember, ran, redis_client, caplog):
    seen = []

    class Watches(dramatiq.Middleware):
        def after_process_message(self, broker, message, *, result=None, exception=None):
            seen.append(result)

    class Breaks(dramatiq.Middleware):
        def before_process_message(self, broker, message):
            raise RuntimeError("a broken middleware")

    with running(broker):
        remember.send("before")
        wait_for(lambda: ran == ["before"], timeout=20, what="the first job")
        broker.add_middleware(Watches())
        broker.add_middleware(Breaks())
        remember.send("after")
        wait_for(lambda: seen == ["after"], timeout=20, what="the later middleware seeing the second job")

    assert ran == ["before", "after"]  # a failing hook is logged, as Dramatiq does, and the job still runs
    assert "Unexpected failure in before_process_message" in caplog.text
