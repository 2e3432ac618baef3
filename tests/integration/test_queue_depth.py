"""Queue depth (filas.queue_depth) read from the keys a real Dramatiq 2.2.1 RedisBroker and Worker write,
on the test run's real Redis: ready and delayed lists, the dead-letter sorted set, workers' ack sets found
through the heartbeat set, the outcome counters, and the cost of a read (Redis commands, not time)."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import dramatiq
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker

from filas import contracts
from filas.jobs import JobStatus, JobStore
from filas.queue_depth import QueueDepth, QueueOutcomes, queue_depths, queue_snapshot
from filas_devtools.ports import wait_until

QUEUE = "atacadao"
WAIT = 20  # seconds; a worker polls every 100 ms here


@pytest.fixture
def broker(redis_url: str) -> Iterator[RedisBroker]:
    broker = RedisBroker(url=redis_url)
    yield broker
    broker.close()


@pytest.fixture
def reader(redis_url: str) -> Iterator[redis.Redis]:
    """A client of its own for the reads (bytes, as filas.broker.get_redis answers)."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def message(queue: str = QUEUE, actor_name: str = "test.anything", **fields) -> dramatiq.Message:
    return dramatiq.Message(queue_name=queue, actor_name=actor_name, args=(), kwargs={}, options={}, **fields)


@contextmanager
def running(broker: RedisBroker) -> Iterator[dramatiq.Worker]:
    """A real Dramatiq worker in this process (one thread) consuming the broker's declared queues."""
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop(timeout=10_000)


def depth(reader: redis.Redis, queue: str = QUEUE, **options) -> QueueDepth:
    return queue_depths(reader, [queue], **options)[queue]


def test_an_empty_redis_reads_zero_for_every_queue(reader):
    depths = queue_depths(reader, contracts.QUEUES)

    assert set(depths) == set(contracts.QUEUES)
    for queue_depth in depths.values():
        assert queue_depth == QueueDepth(ready=0, delayed=0, dead=0, in_flight=0, oldest_ready_age_seconds=None)


def test_ready_and_delayed_messages_are_read_with_the_type_dramatiq_gives_their_keys(broker, reader, redis_client):
    broker.enqueue(message())
    broker.enqueue(message())
    broker.enqueue(message(), delay=60_000)

    # The delay queue is an ordinary Dramatiq queue named "<q>.DQ": a LIST (ZCARD on it is WRONGTYPE).
    assert redis_client.type(f"dramatiq:{QUEUE}") == "list"
    assert redis_client.type(f"dramatiq:{QUEUE}.DQ") == "list"
    found = depth(reader)
    assert (found.ready, found.delayed, found.dead, found.in_flight) == (2, 1, 0, 0)


def test_the_oldest_ready_age_is_the_head_of_the_list_by_its_message_timestamp(broker, reader):
    now_ms = int(time.time() * 1000)
    broker.enqueue(message(message_timestamp=now_ms - 90_000))
    broker.enqueue(message(message_timestamp=now_ms - 5_000))
    broker.enqueue(message(message_timestamp=now_ms - 600_000), delay=60_000)  # not ready: not counted

    age = depth(reader).oldest_ready_age_seconds

    assert 89 <= age < 120


def test_a_message_dead_lettered_by_a_worker_is_dead(broker, reader, redis_client):
    def explodes():
        raise RuntimeError("boom")

    dramatiq.actor(explodes, actor_name="test.explodes", queue_name=QUEUE, broker=broker, max_retries=0)
    with running(broker):
        broker.enqueue(message(actor_name="test.explodes"))
        wait_until(lambda: redis_client.zcard(f"dramatiq:{QUEUE}.XQ") == 1, WAIT, "the message dead-lettered")
        found = depth(reader)

    assert redis_client.type(f"dramatiq:{QUEUE}.XQ") == "zset"
    assert (found.ready, found.delayed, found.dead, found.in_flight) == (0, 0, 1, 0)


def test_a_running_message_is_in_flight_until_it_is_acknowledged(broker, reader):
    started, release = threading.Event(), threading.Event()

    def blocks():
        started.set()
        release.wait(WAIT)

    dramatiq.actor(blocks, actor_name="test.blocks", queue_name=QUEUE, broker=broker)
    with running(broker):
        broker.enqueue(message(actor_name="test.blocks"))
        wait_until(started.is_set, WAIT, "the actor started")
        running_depth = depth(reader)
        release.set()
        wait_until(lambda: depth(reader).in_flight == 0, WAIT, "the message acknowledged")

    assert (running_depth.ready, running_depth.delayed, running_depth.in_flight) == (0, 0, 1)
    assert depth(reader) == QueueDepth(ready=0, delayed=0, dead=0, in_flight=0, oldest_ready_age_seconds=None)


def test_a_delayed_message_a_worker_pulled_into_memory_is_still_delayed(broker, reader, redis_client):
    dramatiq.actor(lambda: None, actor_name="test.later", queue_name=QUEUE, broker=broker)
    held = f"dramatiq:__acks__.{broker.broker_id}.{QUEUE}.DQ"
    with running(broker):
        broker.enqueue(message(actor_name="test.later"), delay=60_000)
        wait_until(lambda: redis_client.scard(held) == 1, WAIT, "the worker pulling the delayed message")
        found = depth(reader)

    assert redis_client.llen(f"dramatiq:{QUEUE}.DQ") == 1  # handed back when the worker stopped
    assert (found.ready, found.delayed, found.in_flight) == (0, 1, 0)


def test_messages_held_by_a_worker_that_stopped_heartbeating_count_as_waiting(broker, reader):
    broker.enqueue(message())
    broker.enqueue(message())
    consumer = broker.consume(QUEUE, prefetch=1)
    assert next(consumer) is not None  # fetched into this broker's ack set; then the "worker" goes silent

    live = depth(reader, heartbeat_timeout_ms=60_000)
    time.sleep(0.5)
    dead = depth(reader, heartbeat_timeout_ms=200)

    assert (live.ready, live.in_flight, live.awaiting_recovery) == (1, 1, 0)
    # Dramatiq's maintenance puts it back on the list: it waits, nobody runs it.
    assert (dead.ready, dead.in_flight, dead.awaiting_recovery) == (2, 0, 1)


def test_outcome_counters_are_read_with_the_depths_and_absent_ones_are_zero(broker, reader, redis_client):
    jobs = JobStore(reader, retention_seconds=60)  # the job-state scripts keep the counters
    for n, status in enumerate((JobStatus.FINISHED,) * 3 + (JobStatus.FAILED,)):
        jobs.finish(f"job-{n}", "some.actor", QUEUE, status)
    broker.enqueue(message())

    snapshot = queue_snapshot(reader, contracts.QUEUES)

    assert snapshot[QUEUE] == (snapshot[QUEUE][0], QueueOutcomes(finished=3, failed=1, cancelled=0))
    assert snapshot[QUEUE][0].ready == 1
    assert {outcomes for queue, (_, outcomes) in snapshot.items() if queue != QUEUE} == {QueueOutcomes()}


def test_a_read_costs_the_same_redis_commands_whatever_else_redis_holds(broker, reader, redis_client):
    """One EVALSHA, and as many commands inside it with 50,000 unrelated keys (and a longer queue) as without:
    no keyspace scan. Counted by Redis itself (INFO), not timed."""
    consumer = broker.consume(QUEUE, prefetch=1)
    broker.enqueue(message())
    consumer.nack(next(consumer))  # dead-lettered by Dramatiq's own nack
    broker.enqueue(message())
    assert next(consumer) is not None  # one in flight, in this broker's ack set
    for queue in contracts.QUEUES:
        broker.enqueue(message(queue))
        broker.enqueue(message(queue), delay=60_000)

    queue_depths(reader, contracts.QUEUES)  # caches the script in Redis
    before = cost_of_a_read(reader, redis_client)

    with redis_client.pipeline(transaction=False) as pipe:
        for chunk in range(50):
            pipe.mset({f"unrelated:{chunk}:{n}": "x" for n in range(1000)})
        for _ in range(500):
            pipe.rpush(f"dramatiq:{QUEUE}", "some-id")
        pipe.execute()
    assert redis_client.dbsize() > 50_000
    after = cost_of_a_read(reader, redis_client)

    assert before == after
    assert before["round trips (EVALSHA)"] == 1


def cost_of_a_read(reader: redis.Redis, info: redis.Redis) -> dict[str, int]:
    """Redis commands served while one read runs (including those inside the script), and its EVALSHAs."""
    stats_before, commands_before = info.info("stats"), info.info("commandstats")
    queue_depths(reader, contracts.QUEUES)
    stats_after, commands_after = info.info("stats"), info.info("commandstats")

    def calls(stats: dict, command: str) -> int:
        return stats.get(f"cmdstat_{command}", {}).get("calls", 0)

    return {
        "commands": stats_after["total_commands_processed"] - stats_before["total_commands_processed"],
        "round trips (EVALSHA)": calls(commands_after, "evalsha") - calls(commands_before, "evalsha"),
        "SCAN": calls(commands_after, "scan") - calls(commands_before, "scan"),
    }


def test_a_redis_that_lost_the_script_still_answers(broker, reader, redis_client):
    broker.enqueue(message())
    redis_client.script_flush()  # a restarted Redis

    assert depth(reader).ready == 1  # NOSCRIPT, then EVAL caches it again
    assert cost_of_a_read(reader, redis_client)["round trips (EVALSHA)"] == 1
