"""Queue depth read straight from the Dramatiq Redis broker's keys, in one round trip.

Used by the API's queue overview (status-filas) and by the metrics exporters at scrape time.

The keys, as Dramatiq 2.2.1 writes them (dramatiq/brokers/redis.py and redis/dispatch.lua), namespace
"dramatiq":

    dramatiq:<q>                            LIST  ready message ids (fetch LPOPs the head)
    dramatiq:<q>.msgs                       HASH  id -> message body (JSON; message_timestamp in ms)
    dramatiq:<q>.DQ                         LIST  delayed messages: the delay queue is an ordinary
                                                  queue named "<q>.DQ" (bodies in dramatiq:<q>.DQ.msgs)
    dramatiq:<q>.XQ                         ZSET  dead letters, score = time dead-lettered (ms)
    dramatiq:__heartbeats__                 ZSET  broker id -> its last command's time (ms); every
                                                  broker writes it, producers too
    dramatiq:__acks__.<broker_id>.<q>       SET   ids a worker fetched from <q> and has not acked
                                                  (running or prefetched)
    dramatiq:__acks__.<broker_id>.<q>.DQ    SET   delayed messages a worker pulled from <q>.DQ into
                                                  memory until their eta

A worker pulls up to threads x 1000 delayed messages into memory, so LLEN of <q>.DQ alone undercounts the
delayed backlog: `delayed` adds the workers' <q>.DQ ack sets.

Cost: the ack sets are found through the heartbeat set (one entry per broker process), never by
scanning the keyspace, and every other read is O(1) (LLEN, ZCARD, SCARD, LINDEX 0, HGET, HMGET). One
Lua script does all of it in one round trip; its work grows with queues x broker processes, and neither
with queue length nor with the number of keys in Redis.
"""

from collections.abc import Iterable
from dataclasses import dataclass

import redis

from filas.jobs import JobStore
from filas.settings import get_settings

NAMESPACE = "dramatiq"
# Per-queue counters of final job states, kept by the job-state scripts (filas/jobs.py).
OUTCOMES_PREFIX = JobStore.OUTCOMES


@dataclass(frozen=True)
class QueueDepth:
    """Messages of one queue, by state, as the broker holds them at the time of the read.

    - ready: waiting in the queue's list, any worker may take them now.
    - delayed: waiting for their eta (retries with backoff, enqueues with a delay): in the delay list or
      held in a live worker's memory.
    - dead: dead-lettered (kept by Dramatiq for 7 days).
    - in_flight: taken by a live worker and not acknowledged yet (running, or prefetched by it).
    - oldest_ready_age_seconds: seconds since the message at the head of the ready list was first
      enqueued (its message_timestamp; a retried message keeps its first one); None when none is ready.
    - awaiting_recovery: messages still in the ack sets of workers whose heartbeat is older than the
      broker's heartbeat timeout (killed, OOM, node lost). Dramatiq's maintenance puts them back in their
      list; until then they are counted in `ready` (or `delayed`), where they are headed, not in_flight.
    """

    ready: int
    delayed: int
    dead: int
    in_flight: int
    oldest_ready_age_seconds: float | None
    awaiting_recovery: int = 0


@dataclass(frozen=True)
class QueueOutcomes:
    """Jobs of one queue that reached a final state (counters kept by the job-state middleware)."""

    finished: int = 0
    failed: int = 0
    cancelled: int = 0


# ARGV: namespace, heartbeat timeout ms, outcomes prefix ("" = do not read them), then the queue names.
# Returns {now_ms, {ready, delayed_list, dead, in_flight, held_delayed, orphaned_ready, orphaned_delayed,
# oldest_timestamp_ms or -1, finished, failed, cancelled}, ...}: one entry per queue, in order.
# Read-only; it names no KEYS, like Dramatiq's own dispatch script (a single Redis, not a Cluster).
_READ_SCRIPT = """
local namespace = ARGV[1]
local heartbeat_timeout = tonumber(ARGV[2])
local outcomes_prefix = ARGV[3]
local clock = redis.call('TIME')
local now_ms = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

local live, dead = {}, {}
local beats = redis.call('ZRANGE', namespace .. ':__heartbeats__', 0, -1, 'WITHSCORES')
for i = 1, #beats, 2 do
  if tonumber(beats[i + 1]) >= now_ms - heartbeat_timeout then
    live[#live + 1] = beats[i]
  else
    dead[#dead + 1] = beats[i]
  end
end

local function held(workers, queue)
  local total = 0
  for _, worker in ipairs(workers) do
    total = total + redis.call('SCARD', namespace .. ':__acks__.' .. worker .. '.' .. queue)
  end
  return total
end

local function oldest_timestamp(queue_key)
  local head = redis.call('LINDEX', queue_key, 0)
  if not head then return -1 end
  local body = redis.call('HGET', queue_key .. '.msgs', head)
  if not body then return -1 end
  local ok, message = pcall(cjson.decode, body)
  if not ok or type(message) ~= 'table' or type(message.message_timestamp) ~= 'number' then return -1 end
  return message.message_timestamp
end

local out = {now_ms}
for q = 4, #ARGV do
  local queue = ARGV[q]
  local queue_key = namespace .. ':' .. queue
  local row = {
    redis.call('LLEN', queue_key),
    redis.call('LLEN', queue_key .. '.DQ'),
    redis.call('ZCARD', queue_key .. '.XQ'),
    held(live, queue),
    held(live, queue .. '.DQ'),
    held(dead, queue),
    held(dead, queue .. '.DQ'),
    oldest_timestamp(queue_key),
  }
  if outcomes_prefix ~= '' then
    local counts = redis.call('HMGET', outcomes_prefix .. queue, 'finished', 'failed', 'cancelled')
    for i = 1, 3 do row[#row + 1] = tonumber(counts[i]) or 0 end
  end
  out[#out + 1] = row
end
return out
"""


def queue_depths(
    client: redis.Redis, queues: Iterable[str], *, heartbeat_timeout_ms: int | None = None
) -> dict[str, QueueDepth]:
    """Each queue's depth by state, in one round trip."""
    return {queue: depth for queue, (depth, _) in _read(client, list(queues), heartbeat_timeout_ms, False).items()}


def queue_snapshot(
    client: redis.Redis, queues: Iterable[str], *, heartbeat_timeout_ms: int | None = None
) -> dict[str, tuple[QueueDepth, QueueOutcomes]]:
    """Each queue's depth and its final-state counters (absent counters are 0), in the same round trip."""
    return _read(client, list(queues), heartbeat_timeout_ms, True)


def _read(
    client: redis.Redis, queues: list[str], heartbeat_timeout_ms: int | None, outcomes: bool
) -> dict[str, tuple[QueueDepth, QueueOutcomes]]:
    if heartbeat_timeout_ms is None:
        # The workers' own setting: a broker silent for longer is dead for Dramatiq's recovery too.
        heartbeat_timeout_ms = get_settings().broker_heartbeat_timeout_ms
    args = [NAMESPACE, heartbeat_timeout_ms, OUTCOMES_PREFIX if outcomes else "", *queues]
    now_ms, *rows = client.register_script(_READ_SCRIPT)(args=args)  # EVALSHA; loads it if Redis lost it
    result = {}
    for queue, row in zip(queues, rows, strict=True):
        ready, delayed, dead, in_flight, held_delayed, orphaned_ready, orphaned_delayed, oldest = row[:8]
        depth = QueueDepth(
            ready=ready + orphaned_ready,
            delayed=delayed + held_delayed + orphaned_delayed,
            dead=dead,
            in_flight=in_flight,
            oldest_ready_age_seconds=max(0.0, (now_ms - oldest) / 1000) if oldest >= 0 else None,
            awaiting_recovery=orphaned_ready + orphaned_delayed,
        )
        result[queue] = (depth, QueueOutcomes(*row[8:11]) if outcomes else QueueOutcomes())
    return result
