"""Job state in Redis, readable by job id (the Dramatiq message id) for the retention period.

One hash per job (`filas:job:<id>`) plus a per-queue index of recent ids (`filas:jobs:<queue>`,
a sorted set by creation time) for the queue overview. Writes come from `JobStateMiddleware`
(filas.middleware) and from actors reporting progress; reads come from the API.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis

from filas.clock import utcnow


class JobStatus:
    QUEUED = "queued"
    STARTED = "started"
    RETRYING = "retrying"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"

    FINAL = (FINISHED, FAILED, CANCELLED)
    WAITING = (QUEUED, RETRYING)


@dataclass(frozen=True)
class Job:
    id: str
    actor: str
    queue: str
    status: str
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    progress_done: int | None
    progress_total: int | None
    result: Any
    error: str | None
    retries: int
    cancel_requested: bool

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
            status=fields.get("status", JobStatus.QUEUED),
            created_at=when("created_at"),
            started_at=when("started_at"),
            finished_at=when("finished_at"),
            progress_done=number("progress_done"),
            progress_total=number("progress_total"),
            result=json.loads(fields["result"]) if fields.get("result") else None,
            error=fields.get("error") or None,
            retries=number("retries") or 0,
            cancel_requested=fields.get("cancel_requested") == "1",
        )


class CancelOutcome:
    CANCELLED = "cancelled"  # it was waiting: it will never start
    REQUESTED = "requested"  # it is running: it stops at its next safe point
    TOO_LATE = "too_late"  # it already ended
    UNKNOWN = "unknown"


class JobStore:
    PREFIX = "filas:job:"
    QUEUE_INDEX = "filas:jobs:"

    def __init__(self, client: redis.Redis, retention_seconds: int):
        self.client = client
        self.retention_seconds = retention_seconds

    # --- writes ---------------------------------------------------------------------------

    def record_queued(self, job_id: str, actor: str, queue: str) -> None:
        now = utcnow()
        with self.client.pipeline() as pipe:
            pipe.hsetnx(self._key(job_id), "created_at", now.isoformat())
            pipe.hset(self._key(job_id), mapping={"actor": actor, "queue": queue, "status": JobStatus.QUEUED})
            pipe.expire(self._key(job_id), self.retention_seconds)
            pipe.zadd(self.QUEUE_INDEX + queue, {job_id: now.timestamp()})
            pipe.zremrangebyscore(self.QUEUE_INDEX + queue, "-inf", now.timestamp() - self.retention_seconds)
            pipe.execute()

    def update(self, job_id: str, **fields: Any) -> None:
        mapping = {name: self._encode(name, value) for name, value in fields.items()}
        with self.client.pipeline() as pipe:
            pipe.hset(self._key(job_id), mapping=mapping)
            pipe.expire(self._key(job_id), self.retention_seconds)
            pipe.execute()

    def set_progress(self, job_id: str, done: int, total: int) -> None:
        self.update(job_id, progress_done=done, progress_total=total)

    def request_cancel(self, job_id: str) -> str:
        """Cancel a waiting job at once; ask a running one to stop at its next safe point."""
        return self._atomically(job_id, self._cancel_step)

    def start(self, job_id: str) -> bool:
        """Mark the job started, unless it was cancelled first (then False: it must not run)."""
        return self._atomically(job_id, self._start_step)

    def _cancel_step(self, job: "Job | None") -> tuple[str, dict[str, Any]]:
        if job is None:
            return CancelOutcome.UNKNOWN, {}
        if job.status in JobStatus.FINAL:
            return CancelOutcome.TOO_LATE, {}
        if job.status in JobStatus.WAITING:
            return CancelOutcome.CANCELLED, {"cancel_requested": "1", "status": JobStatus.CANCELLED,
                                             "finished_at": utcnow(), "error": "cancelado pelo usuário"}
        return CancelOutcome.REQUESTED, {"cancel_requested": "1"}

    @staticmethod
    def _start_step(job: "Job | None") -> tuple[bool, dict[str, Any]]:
        if job is not None and (job.cancel_requested or job.status == JobStatus.CANCELLED):
            return False, {}
        return True, {"status": JobStatus.STARTED, "started_at": utcnow(), "error": None}

    def _atomically(self, job_id: str, step):
        """Read the job, decide, write — with WATCH, so that a worker starting a job and a user
        cancelling it at the same moment cannot both win (the loser retries on fresh state)."""
        key = self._key(job_id)
        with self.client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    fields = pipe.hgetall(key)
                    job = Job.from_hash(job_id, {k.decode(): v.decode() for k, v in fields.items()}) if fields else None
                    outcome, changes = step(job)
                    pipe.multi()
                    if changes:
                        pipe.hset(key, mapping={name: self._encode(name, value) for name, value in changes.items()})
                        pipe.expire(key, self.retention_seconds)
                    pipe.execute()
                    return outcome
                except redis.WatchError:
                    continue

    # --- reads ------------------------------------------------------------------------------

    def get(self, job_id: str) -> Job | None:
        fields = self.client.hgetall(self._key(job_id))
        if not fields:
            return None
        return Job.from_hash(job_id, {k.decode(): v.decode() for k, v in fields.items()})

    def is_cancel_requested(self, job_id: str) -> bool:
        return self.client.hget(self._key(job_id), "cancel_requested") == b"1"

    def recent(self, queue: str, limit: int) -> list[Job]:
        """The queue's most recent jobs still within retention, newest first."""
        ids = [raw.decode() for raw in self.client.zrevrange(self.QUEUE_INDEX + queue, 0, limit - 1)]
        with self.client.pipeline() as pipe:
            for job_id in ids:
                pipe.hgetall(self._key(job_id))
            rows = pipe.execute()
        return [
            Job.from_hash(job_id, {k.decode(): v.decode() for k, v in fields.items()})
            for job_id, fields in zip(ids, rows, strict=True)
            if fields
        ]

    # --- helpers ----------------------------------------------------------------------------

    def _key(self, job_id: str) -> str:
        return self.PREFIX + job_id

    @staticmethod
    def _encode(name: str, value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            return value.isoformat()
        if name == "result":
            return json.dumps(value, default=str)
        return str(value)
