"""Job state in Redis: the fast view of a job, readable by job id (the Dramatiq message id).

The domain row in PostgreSQL is the truth about a job (filas.lifecycle); this view serves status and
progress reads cheaply. One hash per job (`filas:job:<id>`) plus a per-queue index of recent ids
(`filas:jobs:<queue>`, a sorted set by creation time) and per-queue outcome counters
(`filas:queue_outcomes:<queue>`: finished, failed, cancelled).

A job's hash never expires before the job is final; its retention starts at the final state. Every write
that changes the state is one Lua script, so no write can move a job out of a final state, whatever order
deliveries and cancels arrive in. A write can be run at once or handed over as a `ScriptCall`, which the
broker (filas.broker) sends in the same round trip as the message's own enqueue, ack or nack; starts are
made for a whole fetched batch at once (`start_many`).
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import redis
from redis.commands.core import Script

from filas.clock import utcnow


class JobStatus(StrEnum):
    QUEUED = "queued"
    STARTED = "started"
    RETRYING = "retrying"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES

    @property
    def is_waiting(self) -> bool:
        return self in WAITING_STATES


FINAL_STATES = frozenset({JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELLED})
WAITING_STATES = frozenset({JobStatus.QUEUED, JobStatus.RETRYING})


class CancelOutcome(StrEnum):
    CANCELLED = "cancelled"  # it was waiting: it will never start
    REQUESTED = "requested"  # it is running: it stops at its next safe point
    TOO_LATE = "too_late"  # it already ended
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Job:
    id: str
    actor: str
    queue: str
    status: JobStatus
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    progress_done: int | None
    progress_total: int | None
    result: Any
    error: str | None
    retries: int
    cancel_requested: bool
    broker_queue: str = ""
    redis_message_id: str = ""

    @classmethod
    def from_hash(cls, job_id: str, fields: dict[str, str]) -> "Job":
        def when(name: str) -> datetime | None:
            return datetime.fromisoformat(fields[name]) if fields.get(name) else None

        def number(name: str) -> int | None:
            return int(fields[name]) if fields.get(name) else None

        return cls(
            id=job_id,
            actor=fields.get("actor", ""),
            queue=fields.get("queue", ""),
            status=JobStatus(fields.get("status") or JobStatus.QUEUED),
            created_at=when("created_at"),
            started_at=when("started_at"),
            finished_at=when("finished_at"),
            progress_done=number("progress_done"),
            progress_total=number("progress_total"),
            result=json.loads(fields["result"]) if fields.get("result") else None,
            error=fields.get("error") or None,
            retries=number("retries") or 0,
            cancel_requested=fields.get("cancel_requested") == "1",
            broker_queue=fields.get("broker_queue", ""),
            redis_message_id=fields.get("redis_message_id", ""),
        )


# Lua scripts: each reads the current state and writes only if the job is not final, in one round trip.
# The final states are written into the scripts from FINAL_STATES, so the scripts and JobStatus agree.
_IS_FINAL = "local FINAL = {" + ", ".join(f"['{state}'] = true" for state in sorted(FINAL_STATES)) + "}\n"

# KEYS: job hash, queue index. ARGV: now iso, now ts, actor, queue, status, retries, index cutoff ts,
# job id, broker queue (with .DQ when delayed), redis message id
_ENQUEUE = _IS_FINAL + """
if FINAL[redis.call('HGET', KEYS[1], 'status')] then return 0 end
redis.call('HSETNX', KEYS[1], 'created_at', ARGV[1])
redis.call('HSET', KEYS[1], 'actor', ARGV[3], 'queue', ARGV[4], 'status', ARGV[5], 'retries', ARGV[6],
           'broker_queue', ARGV[9], 'redis_message_id', ARGV[10])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[8])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[7])
return 1
"""

# KEYS: one job hash per job. ARGV: now iso, then actor and queue per job. Returns per job 1 if it may start,
# else why not: its final state, or 'cancelled' when a cancel was asked.
_START_MANY = _IS_FINAL + """
local may_start = {}
for i, key in ipairs(KEYS) do
  local current = redis.call('HMGET', key, 'status', 'cancel_requested')
  if FINAL[current[1]] then
    may_start[i] = current[1]
  elseif current[2] == '1' then
    may_start[i] = 'cancelled'
  else
    redis.call('HSETNX', key, 'created_at', ARGV[1])
    redis.call('HSET', key, 'status', 'started', 'started_at', ARGV[1], 'error', '',
               'actor', ARGV[2 * i], 'queue', ARGV[2 * i + 1])
    may_start[i] = 1
  end
end
return may_start
"""

# KEYS: job hash, outcome counters. ARGV: status, retention s, actor, queue, then field/value pairs.
# A view lost meanwhile (Redis flushed or restarted empty) is written whole again, with its actor.
_FINISH = _IS_FINAL + """
if FINAL[redis.call('HGET', KEYS[1], 'status')] then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'actor', ARGV[3], 'queue', ARGV[4], unpack(ARGV, 5))
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
return 1
"""

# KEYS: job hash. ARGV: field/value pairs. Non-final updates (retrying, progress).
_UPDATE = _IS_FINAL + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status or FINAL[status] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""

# KEYS: job hash, outcome counters. ARGV: now iso, retention s, message.
_CANCEL = _IS_FINAL + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'unknown' end
if FINAL[status] then return 'too_late' end
if status == 'queued' or status == 'retrying' then
  redis.call('HSET', KEYS[1], 'status', 'cancelled', 'cancel_requested', '1', 'finished_at', ARGV[1], 'error', ARGV[3])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  redis.call('HINCRBY', KEYS[2], 'cancelled', 1)
  return 'cancelled'
end
redis.call('HSET', KEYS[1], 'cancel_requested', '1')
return 'requested'
"""

@dataclass(frozen=True)
class ScriptCall:
    """One job-state write, not yet sent: run it now, or let the broker send it with a message's command."""

    script: Script
    keys: list[str]
    args: list

    def run(self) -> Any:
        return self.script(keys=self.keys, args=self.args)


@dataclass(frozen=True)
class StartRequest:
    job_id: str
    actor: str
    queue: str


class JobStore:
    PREFIX = "filas:job:"
    QUEUE_INDEX = "filas:jobs:"
    OUTCOMES = "filas:queue_outcomes:"

    def __init__(self, client: redis.Redis, retention_seconds: int):
        self.client = client
        self.retention_seconds = retention_seconds
        self._enqueue = client.register_script(_ENQUEUE)
        self._start_many = client.register_script(_START_MANY)
        self._finish = client.register_script(_FINISH)
        self._update = client.register_script(_UPDATE)
        self._cancel = client.register_script(_CANCEL)

    # --- writes ---------------------------------------------------------------------------

    def record_queued(self, job_id: str, actor: str, queue: str, *, retries: int = 0,
                      broker_queue: str = "", redis_message_id: str = "") -> bool:
        """Queued (or retrying, for a retry); False if the job had already ended."""
        return bool(self.queued_call(job_id, actor, queue, retries=retries, broker_queue=broker_queue,
                                     redis_message_id=redis_message_id).run())

    def queued_call(self, job_id: str, actor: str, queue: str, *, retries: int = 0,
                    broker_queue: str = "", redis_message_id: str = "") -> ScriptCall:
        """`broker_queue` and `redis_message_id` say where the message sits in the broker, so that the
        reconciler can tell a queued message from a lost one."""
        now = utcnow()
        status = JobStatus.RETRYING if retries else JobStatus.QUEUED
        return ScriptCall(self._enqueue, [self._key(job_id), self.QUEUE_INDEX + queue],
                          [now.isoformat(), now.timestamp(), actor, queue, status, retries,
                           now.timestamp() - self.retention_seconds, job_id, broker_queue or queue,
                           redis_message_id])

    def start(self, job_id: str, actor: str, queue: str) -> bool:
        """Mark the job started, unless it was cancelled or had ended (then False: it must not run)."""
        return self.refused_start(job_id, actor, queue) is None

    def refused_start(self, job_id: str, actor: str, queue: str) -> JobStatus | None:
        """`start`, saying why not: None if the job may run, else the state that keeps it from running."""
        return self.refusals(self.start_many_call([StartRequest(job_id, actor, queue)]).run())[0]

    def start_many(self, jobs: Sequence[StartRequest]) -> list[bool]:
        """`start` for many jobs in one round trip, in order."""
        return self.may_start(self.start_many_call(jobs).run()) if jobs else []

    def start_many_call(self, jobs: Sequence[StartRequest]) -> ScriptCall:
        """Its answer, read with `may_start` (per job, whether it may run) or `refusals` (why not)."""
        args = [utcnow().isoformat()]
        for job in jobs:
            args += [job.actor, job.queue]
        return ScriptCall(self._start_many, [self._key(job.job_id) for job in jobs], args)

    @classmethod
    def may_start(cls, answers: list) -> list[bool]:
        return [refusal is None for refusal in cls.refusals(answers)]

    @staticmethod
    def refusals(answers: list) -> list[JobStatus | None]:
        """Per job, None if it may run, else the state that keeps it from running (cancelled: a cancel was
        asked, whether or not the job had ended as cancelled)."""
        return [None if answer == 1 else JobStatus(_text(answer)) for answer in answers]

    def finish(self, job_id: str, actor: str, queue: str, status: JobStatus, **fields: Any) -> bool:
        """Move the job to a final state (retention starts now); False if it was final already."""
        return bool(self.finish_call(job_id, actor, queue, status, **fields).run())

    def finish_call(self, job_id: str, actor: str, queue: str, status: JobStatus, **fields: Any) -> ScriptCall:
        assert status.is_final, status
        fields.setdefault("finished_at", utcnow())
        return ScriptCall(self._finish, [self._key(job_id), self.OUTCOMES + queue],
                          [status, self.retention_seconds, actor, queue, *self._pairs(fields)])

    def update(self, job_id: str, **fields: Any) -> bool:
        """Change fields of a job that exists and has not ended (retrying, progress)."""
        return bool(self.update_call(job_id, **fields).run())

    def update_call(self, job_id: str, **fields: Any) -> ScriptCall:
        return ScriptCall(self._update, [self._key(job_id)], self._pairs(fields))

    def set_progress(self, job_id: str, done: int, total: int) -> None:
        self.update(job_id, progress_done=done, progress_total=total)

    def request_cancel(self, job_id: str, queue: str, message: str) -> CancelOutcome:
        """Cancel a waiting job at once; ask a running one to stop at its next safe point."""
        outcome = self._cancel(keys=[self._key(job_id), self.OUTCOMES + queue],
                               args=[utcnow().isoformat(), self.retention_seconds, message])
        return CancelOutcome(_text(outcome))

    def forget(self, job_id: str) -> None:
        """Delete a job's view. Only for a job sent again after it ended (an operator requeueing a dead
        letter): its final view would keep the new delivery from starting, as it must for any other."""
        self.client.delete(self._key(job_id))

    # --- reads ------------------------------------------------------------------------------

    def get(self, job_id: str) -> Job | None:
        fields = self.client.hgetall(self._key(job_id))
        if not fields:
            return None
        return Job.from_hash(job_id, _decoded(fields))

    def is_cancel_requested(self, job_id: str) -> bool:
        return self.client.hget(self._key(job_id), "cancel_requested") == b"1"

    def recent(self, queue: str, limit: int) -> list[Job]:
        """The queue's most recent jobs still within retention, newest first."""
        ids = [raw.decode() for raw in self.client.zrevrange(self.QUEUE_INDEX + queue, 0, limit - 1)]
        with self.client.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hgetall(self._key(job_id))
            rows = pipe.execute()
        return [Job.from_hash(job_id, _decoded(fields)) for job_id, fields in zip(ids, rows, strict=True) if fields]

    # --- helpers ----------------------------------------------------------------------------

    def _key(self, job_id: str) -> str:
        return self.PREFIX + job_id

    @classmethod
    def _pairs(cls, fields: dict[str, Any]) -> list[str]:
        pairs: list[str] = []
        for name, value in fields.items():
            pairs += [name, cls._encode(name, value)]
        return pairs

    @staticmethod
    def _encode(name: str, value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            return value.isoformat()
        if name == "result":
            return result_json(value)
        return str(value)


def result_json(value: Any) -> str:
    """A job's result as JSON, in the view and on its row alike: what JSON cannot say (dates, decimals) as text."""
    return json.dumps(value, default=str)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _decoded(fields: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in fields.items()}
