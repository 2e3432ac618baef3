"""Dead letters: messages Dramatiq gave up on (retries exhausted, a permanent error), listed and requeued.

The keys, as Dramatiq 2.2.1 writes them when a worker nacks a message (redis/dispatch.lua, "nack"):

    dramatiq:<q>.XQ         ZSET  redis message id -> when it was dead-lettered (ms); kept 7 days
    dramatiq:<q>.XQ.msgs    HASH  redis message id -> the message body (JSON)

The redis message id is the broker's id of one enqueue (a retry gets a new one); the body carries the
job id (`message_id`), which is the id of the job's domain row and Redis view.

Requeueing sends the same job again, under the same job id, with a fresh retry budget. For an actor with
a domain row, the row must be failed and still be about this job; it is made waiting again
(filas.lifecycle.queue) before the message is sent, so that if the send fails the reconciler sends it.
"""

import dataclasses
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import dramatiq
import redis
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from filas import lifecycle
from filas.broker import get_job_store, get_redis
from filas.db.models import Booking, BookingStatus, Campaign, CampaignStatus
from filas.db.session import session_scope
from filas.enqueue import send
from filas.jobs import JobStatus
from filas.middleware import POSTPONED
from filas.queue_depth import NAMESPACE

# Options that belong to one run of a message, not to the job: a requeued job starts afresh.
_RUN_OPTIONS = frozenset({"redis_message_id", "retries", "traceback", "requeue_timestamp", "eta", POSTPONED})
# How many of a queue's most recent dead letters are searched for a job whose broker id is unknown.
SEARCHED_WHEN_UNHINTED = 500


@dataclass(frozen=True)
class DeadLetter:
    queue: str
    redis_message_id: str
    job_id: str
    actor: str
    arguments: dict[str, Any]
    retries: int
    dead_since: datetime


class RequeueOutcome(StrEnum):
    REQUEUED = "requeued"
    NOT_FOUND = "not_found"  # no such dead letter: requeued already, or past Dramatiq's 7 days
    ROW_MOVED_ON = "row_moved_on"  # its row now belongs to another job (reprocessed) or is gone
    NOT_FAILED = "not_failed"  # its row did not end failed (finished, cancelled, or waiting again)
    LOAD_TAKEN = "load_taken"  # another booking of the same load is waiting, running or booked


def _keys(queue: str) -> tuple[str, str]:
    dead = f"{NAMESPACE}:{queue}.XQ"
    return dead, f"{dead}.msgs"


def list_dead_letters(queue: str, limit: int) -> list[DeadLetter]:
    """The queue's most recent dead letters, newest first."""
    client = get_redis()
    dead_key, bodies_key = _keys(queue)
    entries = client.zrevrange(dead_key, 0, limit - 1, withscores=True)
    if not entries:
        return []
    bodies = client.hmget(bodies_key, [member for member, _ in entries])
    letters = (_letter(queue, member, score, body) for (member, score), body in zip(entries, bodies, strict=True))
    return [letter for letter in letters if letter is not None]


def get_dead_letter(queue: str, redis_message_id: str) -> DeadLetter | None:
    client = get_redis()
    dead_key, bodies_key = _keys(queue)
    score = client.zscore(dead_key, redis_message_id)
    body = client.hget(bodies_key, redis_message_id) if score is not None else None
    return _letter(queue, redis_message_id, score, body)


def find_dead_letter(queue: str, job_id: str, hint: str = "") -> DeadLetter | None:
    """The dead letter of job `job_id` in `queue`. `hint`: its redis message id if known (the job's Redis view
    keeps it); otherwise the most recent dead letters are searched."""
    letter = get_dead_letter(queue, hint) if hint else None
    if letter is not None and letter.job_id == job_id:
        return letter
    return next((letter for letter in list_dead_letters(queue, SEARCHED_WHEN_UNHINTED) if letter.job_id == job_id),
                None)


def requeue(queue: str, redis_message_id: str) -> RequeueOutcome:
    """Send a dead-lettered job again. Raises InfrastructureUnavailable if Redis refuses the send (a job with a
    row is then sent by the reconciler: its row is already waiting)."""
    client = get_redis()
    dead_key, bodies_key = _keys(queue)
    body = client.hget(bodies_key, redis_message_id)
    score = client.zscore(dead_key, redis_message_id)
    if body is None or score is None:
        return RequeueOutcome.NOT_FOUND
    message = dramatiq.Message.decode(body)
    if not client.zrem(dead_key, redis_message_id):
        return RequeueOutcome.NOT_FOUND  # of two operators requeueing it at once, the other one did
    try:
        outcome = _reopen_row(message)
    except BaseException:
        _put_back(client, dead_key, redis_message_id, score)
        raise
    if outcome != RequeueOutcome.REQUEUED:
        _put_back(client, dead_key, redis_message_id, score)
        return outcome
    get_job_store().forget(message.message_id)  # its final view would make the worker skip it
    send(_fresh(message, queue))
    client.hdel(bodies_key, redis_message_id)
    return RequeueOutcome.REQUEUED


def _put_back(client: redis.Redis, dead_key: str, redis_message_id: str, score: float) -> None:
    client.zadd(dead_key, {redis_message_id: score})


def _reopen_row(message: dramatiq.Message) -> RequeueOutcome:
    model = lifecycle.model_for(message.actor_name)
    if model is None:
        return RequeueOutcome.REQUEUED  # a job with no row (a periodic one)
    with session_scope() as session:
        row = session.scalars(select(model).where(model.job_id == message.message_id).with_for_update()).first()
        if row is None:
            return RequeueOutcome.ROW_MOVED_ON
        if row.job_status != JobStatus.FAILED:
            return RequeueOutcome.NOT_FAILED
        _waiting_domain_status(row)
        lifecycle.queue(row, message.message_id)
        try:
            session.flush()
        except IntegrityError:  # the partial unique index: one live booking per load
            session.rollback()
            return RequeueOutcome.LOAD_TAKEN
    return RequeueOutcome.REQUEUED


def _waiting_domain_status(row: Any) -> None:
    """What the front end shows for a job waiting again, as when it was first accepted."""
    if isinstance(row, Booking):
        # submetido_em stays: if the failed run reached the submit, the next one looks for that booking first.
        row.status, row.mensagem = BookingStatus.PENDING, None
    elif isinstance(row, Campaign):
        validating = row.job_id == row.validacao_job_id
        row.status = CampaignStatus.VALIDATING if validating else CampaignStatus.SENDING


def _fresh(message: dramatiq.Message, queue: str) -> dramatiq.Message:
    options = {name: value for name, value in message.options.items() if name not in _RUN_OPTIONS}
    # A new timestamp: the age of the oldest ready message (backlog alerts) counts from the requeue.
    return dataclasses.replace(message, queue_name=queue, options=options, message_timestamp=int(time.time() * 1000))


def _letter(queue: str, member: bytes | str, score: float | None, body: bytes | None) -> DeadLetter | None:
    if body is None or score is None:
        return None  # expired between the two reads
    try:
        message = dramatiq.Message.decode(body)
    except dramatiq.errors.DecodeError:
        return None
    return DeadLetter(
        queue=queue,
        redis_message_id=member.decode() if isinstance(member, bytes) else member,
        job_id=message.message_id,
        actor=message.actor_name,
        arguments=dict(message.kwargs),
        retries=int(message.options.get("retries", 0)),
        dead_since=datetime.fromtimestamp(score / 1000, UTC),
    )
