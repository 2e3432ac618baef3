"""Cost of reading the queues with a big Redis: filas.queue_depth.queue_depths, GET /portal/api/status-filas
and a /metrics scrape (the API in-process: Flask test client), next to the implementation they replace.

A throwaway Redis (no PostgreSQL: neither read touches it) is filled with

- 1,000,000 queued messages (Dramatiq's own layout: ids in the dramatiq:<q> lists, JSON bodies in the
  dramatiq:<q>.msgs hashes), split over the project's queues; 10,000 dead letters;
- 1,000,000 other keys (the rest of a busy Redis: job state, locks, rate-limit buckets...);
- job state for the last hour: 5,000 jobs per queue (hashes + per-queue index), which the old status-filas
  counted from;
- 8 "workers": real Dramatiq consumers that fetched 25 messages each into their ack sets; their heartbeats
  are kept fresh before every round, as their polling would.

Then each read is timed (several rounds, median / p95 / max) and Redis's own command counter tells how many
commands it cost. Baseline = the old code, kept below: depths with one pipeline plus a SCAN of the whole
keyspace for ack sets (it also reads the delay list with ZCARD, so the data set has no delayed message; the
last table shows what one delayed message does to each).

    .venv/bin/python bench/queue_depth_scrape.py [--messages 1000000] [--other-keys 1000000] [--rounds 15]
"""

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import redis
from _support import Bench, percentile, run, table

from filas_devtools.redis_server import RedisServer

WORKERS = 8
PER_WORKER = 25
DEAD_LETTERS = 10_000
JOBS_PER_QUEUE = 5_000
BATCH = 20_000
TOKEN = "bench-token"

# One EVAL writes a batch of messages as Dramatiq's enqueue does (HSET body + RPUSH id), server-side.
# KEYS: list, bodies hash. ARGV: first index, count, queue, timestamp ms.
FILL_MESSAGES = """
local first, count = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = first, first + count - 1 do
  local id = string.format('%08x-0000-4000-8000-%012x', i, i)
  local body = '{"queue_name":"' .. ARGV[3] .. '","actor_name":"bench.actor","args":[' .. i .. '],'
    .. '"kwargs":{"integracao_id":' .. i .. '},"options":{"redis_message_id":"' .. id .. '"},'
    .. '"message_id":"' .. string.format('%08x-1111-4000-8000-%012x', i, i) .. '",'
    .. '"message_timestamp":' .. (tonumber(ARGV[4]) + i % 1000) .. '}'
  redis.call('HSET', KEYS[2], id, body)
  redis.call('RPUSH', KEYS[1], id)
end
"""
# KEYS: none. ARGV: first index, count.
FILL_OTHER = """
for i = tonumber(ARGV[1]), tonumber(ARGV[1]) + tonumber(ARGV[2]) - 1 do
  redis.call('SET', 'bench:other:' .. i, 'x')
end
"""
# KEYS: dead-letter zset, its bodies. ARGV: count, timestamp ms.
FILL_DEAD = """
for i = 1, tonumber(ARGV[1]) do
  local id = string.format('dead-%08d', i)
  redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) - i, id)
  redis.call('HSET', KEYS[2], id, '{}')
end
"""
# KEYS: none. ARGV: queue, count, now iso, now ts. Job state as filas/jobs.py keeps it (hash + index).
FILL_JOBS = """
local statuses = {'finished', 'finished', 'finished', 'failed', 'queued', 'started', 'cancelled'}
for i = 1, tonumber(ARGV[2]) do
  local id = ARGV[1] .. '-job-' .. i
  redis.call('HSET', 'filas:job:' .. id, 'actor', 'bench.actor', 'queue', ARGV[1],
             'status', statuses[i % #statuses + 1], 'created_at', ARGV[3], 'retries', '0')
  redis.call('ZADD', 'filas:jobs:' .. ARGV[1], tonumber(ARGV[4]) + i, id)
end
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1_000_000, help="queued messages (default 1,000,000)")
    parser.add_argument("--other-keys", type=int, default=1_000_000, help="unrelated keys (default 1,000,000)")
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds of each new read (default 15)")
    parser.add_argument("--baseline-rounds", type=int, default=4, help="timed rounds of each old read (default 4)")
    return parser.parse_args()


# --- the baseline: the code this replaced (filas/queue_depth.py, filas/metrics.py, job_views.queue_overview) ---


def old_queue_depths(client: redis.Redis, queues) -> dict[str, dict[str, int]]:
    queues = list(queues)
    with client.pipeline() as pipe:
        for queue in queues:
            pipe.llen(f"dramatiq:{queue}")
            pipe.zcard(f"dramatiq:{queue}.DQ")
            pipe.zcard(f"dramatiq:{queue}.XQ")
        counts = pipe.execute()
    in_flight = _old_in_flight(client, queues)
    return {
        queue: {
            "prontos": counts[3 * i],
            "atrasados": counts[3 * i + 1],
            "mortos": counts[3 * i + 2],
            "em_maos_de_workers": in_flight[queue],
        }
        for i, queue in enumerate(queues)
    }


def _old_in_flight(client: redis.Redis, queues: list[str]) -> dict[str, int]:
    totals = dict.fromkeys(queues, 0)
    for key in client.scan_iter(match="dramatiq:__acks__.*", count=500):
        queue = key.decode().rsplit(".", 1)[-1]
        if queue in totals:
            totals[queue] += client.scard(key)
    return totals


def old_queue_overview() -> dict[str, dict[str, Any]]:
    from filas import contracts
    from filas.broker import get_job_store, get_redis

    store = get_job_store()
    depths = old_queue_depths(get_redis(), contracts.QUEUES)
    overview = {}
    for queue in contracts.QUEUES:
        jobs = store.recent(queue, 1000)
        overview[queue] = {
            "pendentes": sum(job.status in ("queued", "retrying") for job in jobs),
            "em_execucao": sum(job.status == "started" for job in jobs),
            "concluidos": sum(job.status == "finished" for job in jobs),
            "falhados": sum(job.status == "failed" for job in jobs),
            "cancelados": sum(job.status == "cancelled" for job in jobs),
            "redis": depths[queue],
            "jobs": [{"job_id": job.id, "tipo": job.actor, "status": job.status,
                      "criado_em": job.created_at.isoformat() if job.created_at else None} for job in jobs[:20]],
        }
    return overview


class OldQueueDepthCollector:
    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        from filas import contracts
        from filas.broker import get_redis

        gauge = GaugeMetricFamily("filas_queue_messages", "Messages in each Dramatiq queue by state",
                                  labels=["queue", "state"])
        up = GaugeMetricFamily("filas_redis_up", "1 if Redis answered the last scrape")
        try:
            depths = old_queue_depths(get_redis(), contracts.QUEUES)
        except Exception:
            up.add_metric([], 0)
            yield up
            return
        for queue, states in depths.items():
            for state, count in states.items():
                gauge.add_metric([queue, state], count)
        up.add_metric([], 1)
        yield gauge
        yield up


# --- filling Redis ---------------------------------------------------------------------------------------------


def fill(client: redis.Redis, redis_url: str, args: argparse.Namespace, queues: tuple[str, ...]) -> list:
    from dramatiq.brokers.redis import RedisBroker

    started = time.monotonic()
    now_ms = int(time.time() * 1000)
    fill_messages, fill_other = client.register_script(FILL_MESSAGES), client.register_script(FILL_OTHER)
    shares = [0.6, 0.3, 0.1][: len(queues)] + [0.0] * max(0, len(queues) - 3)
    written = 0
    for n, (queue, share) in enumerate(zip(queues, shares, strict=True)):
        count = args.messages - written if n == len(queues) - 1 else int(args.messages * share)
        for first in range(0, count, BATCH):
            fill_messages(keys=[f"dramatiq:{queue}", f"dramatiq:{queue}.msgs"],
                          args=[written + first, min(BATCH, count - first), queue, now_ms - 600_000])
        written += count
    for first in range(0, args.other_keys, BATCH * 5):
        fill_other(args=[first, min(BATCH * 5, args.other_keys - first)])
    client.register_script(FILL_DEAD)(keys=[f"dramatiq:{queues[-1]}.XQ", f"dramatiq:{queues[-1]}.XQ.msgs"],
                                      args=[DEAD_LETTERS, now_ms])
    iso = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    for queue in queues:
        client.register_script(FILL_JOBS)(args=[queue, JOBS_PER_QUEUE, iso, now_ms])
    # Workers: real consumers fetching into their ack sets (prefetch 25 each) on the first queue.
    brokers = []
    for _ in range(WORKERS):
        broker = RedisBroker(url=redis_url)
        consumer = broker.consume(queues[0], prefetch=PER_WORKER)
        assert next(consumer) is not None
        brokers.append(broker)
    print(f"  filled in {time.monotonic() - started:.1f} s: {client.dbsize():,} keys, "
          f"{client.info('memory')['used_memory_human']} used", flush=True)
    return brokers


def keep_heartbeats_fresh(client: redis.Redis, brokers: list) -> None:
    now_ms = int(time.time() * 1000)
    client.zadd("dramatiq:__heartbeats__", {broker.broker_id: now_ms for broker in brokers})


# --- measuring -------------------------------------------------------------------------------------------------


def measure(call: Callable[[], Any], rounds: int, client: redis.Redis, brokers: list) -> dict[str, float]:
    call()  # warm: connections, the script cached in Redis, Flask's first request
    seconds, commands = [], []
    for _ in range(rounds):
        keep_heartbeats_fresh(client, brokers)
        before = client.info("stats")["total_commands_processed"]
        began = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - began)
        # minus 1: the INFO that read `before` is counted once it has run
        commands.append(client.info("stats")["total_commands_processed"] - before - 1)
    return {"median": statistics.median(seconds), "p95": percentile(seconds, 95), "max": max(seconds),
            "commands": statistics.median(commands)}


def main(bench: Bench, args: argparse.Namespace) -> None:
    server = bench.cleanup.enter_context(RedisServer())
    os.environ.update(FILAS_REDIS_URL=server.url, FILAS_API_TOKENS=TOKEN, FILAS_LOG_LEVEL="WARNING")

    from prometheus_client import CollectorRegistry

    import filas_api.metrics
    import filas_api.portal
    from filas import contracts
    from filas.broker import get_redis
    from filas.queue_depth import queue_depths
    from filas_api.app import create_app

    client = redis.Redis.from_url(server.url)
    bench.cleanup.callback(client.close)
    print(f"filling Redis: {args.messages:,} messages, {args.other_keys:,} other keys ...", flush=True)
    brokers = fill(client, server.url, args, contracts.QUEUES)
    for broker in brokers:
        bench.cleanup.callback(broker.close)

    app = create_app().test_client()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    new_registry = filas_api.metrics.registry
    old_registry = CollectorRegistry()
    old_registry.register(OldQueueDepthCollector())
    new_overview = filas_api.portal.queue_overview

    def status_filas() -> None:
        reply = app.get("/portal/api/status-filas", headers=auth)
        assert reply.status_code == 200, reply.get_data(as_text=True)

    def scrape() -> None:
        text = app.get("/metrics").get_data(as_text=True)
        assert "filas_redis_up 1.0" in text, text

    def use(overview, registry) -> None:
        filas_api.portal.queue_overview = overview
        filas_api.metrics.registry = registry

    redis_client = get_redis()
    rows = []
    for what, new_call, old_call, setup_new, setup_old in [
        ("queue_depths(...)", lambda: queue_depths(redis_client, contracts.QUEUES),
         lambda: old_queue_depths(redis_client, contracts.QUEUES), None, None),
        ("GET /portal/api/status-filas", status_filas, status_filas,
         lambda: use(new_overview, new_registry), lambda: use(old_queue_overview, new_registry)),
        ("GET /metrics (queue collector)", scrape, scrape,
         lambda: use(new_overview, new_registry), lambda: use(new_overview, old_registry)),
    ]:
        for label, call, setup, rounds in (("new", new_call, setup_new, args.rounds),
                                           ("old (SCAN)", old_call, setup_old, args.baseline_rounds)):
            if setup:
                setup()
            print(f"  timing {what}, {label}: {rounds} rounds", flush=True)
            figures = measure(call, rounds, client, brokers)
            rows.append([what, label, rounds, f"{figures['median'] * 1000:.2f}", f"{figures['p95'] * 1000:.2f}",
                         f"{figures['max'] * 1000:.2f}", f"{figures['commands']:,.0f}"])
        use(new_overview, new_registry)
        old_median, new_median = float(rows[-1][3]), float(rows[-2][3])
        rows.append(["", "old / new", "", f"{old_median / new_median:,.0f}x", "", "", ""])

    table(
        f"reading {len(contracts.QUEUES)} queues: {args.messages:,} queued messages, {args.other_keys:,} other keys, "
        f"{client.dbsize():,} keys in all, {WORKERS} live workers x {PER_WORKER} in flight",
        ["read", "implementation", "rounds", "median ms", "p95 ms", "max ms", "Redis commands"],
        rows, left=[0, 1],
        note="Redis commands: INFO total_commands_processed over one call, commands run inside a Lua script "
             "included. status-filas also reads the 20 most recent jobs per queue (new) / the last 1,000 "
             "job hashes per queue (old).",
    )

    # One delayed message: the delay queue is a LIST (dramatiq:<q>.DQ); the old read used ZCARD on it.
    brokers[0].enqueue(_message(contracts.QUEUES[0]), delay=60_000)
    keep_heartbeats_fresh(client, brokers)
    use(old_queue_overview, old_registry)
    old = (app.get("/portal/api/status-filas", headers=auth).status_code,
           _redis_up(app.get("/metrics").get_data(as_text=True)))
    use(new_overview, new_registry)
    new = (app.get("/portal/api/status-filas", headers=auth).status_code,
           _redis_up(app.get("/metrics").get_data(as_text=True)))
    delayed = queue_depths(redis_client, contracts.QUEUES)[contracts.QUEUES[0]].delayed
    table("after enqueueing one delayed message (broker.enqueue(..., delay=60000))",
          ["implementation", "status-filas HTTP status", "filas_redis_up", f"delayed in {contracts.QUEUES[0]}"],
          [["old (SCAN)", old[0], old[1], "-"], ["new", new[0], new[1], delayed]], left=[0])


def _message(queue: str):
    import dramatiq

    return dramatiq.Message(queue_name=queue, actor_name="bench.actor", args=(), kwargs={}, options={})


def _redis_up(text: str) -> str:
    return next((line.split()[-1] for line in text.splitlines() if line.startswith("filas_redis_up ")), "?")


if __name__ == "__main__":
    arguments = parse_args()
    run(lambda bench: main(bench, arguments), "queue_depth_scrape", time_limit=170)
