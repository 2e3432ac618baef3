"""Empty a queue in an emergency: every waiting message leaves Redis, and its job is cancelled first.

Waiting means in the queue's ready list (`dramatiq:<q>`) or its delay list (`dramatiq:<q>.DQ`: retries and
delayed enqueues). Each job is cancelled through filas.cancellation before its message is removed: its row
is closed (`cancelado`, with the reason), so nothing stays waiting for a message that no longer exists and
the reconciler never sends it again; a load can be booked again, or the integration reprocessed. A message
a worker takes meanwhile finds its job cancelled and is acknowledged without running.

Messages already in a worker's hands (running, or delayed retries it holds in memory) are not removed:
cancel those jobs one by one (the operations page) if they must stop.
"""

from collections import Counter
from dataclasses import dataclass, field

import dramatiq

from filas.broker import get_redis
from filas.cancellation import cancel_job
from filas.queue_depth import NAMESPACE

EMPTIED_REASON = "cancelado pelo operador: fila esvaziada"

# Removes one message from a waiting list, and its body only if it was still there (a worker that took it
# meanwhile needs the body to acknowledge it, or recovery to put it back).
_REMOVE_SCRIPT = """
if redis.call('LREM', KEYS[1], 0, ARGV[1]) > 0 then
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 1
end
return 0
"""


@dataclass(frozen=True)
class WaitingMessage:
    list_key: str
    redis_message_id: str
    job_id: str
    actor: str


@dataclass
class EmptyingResult:
    removed: int = 0
    cancelled: Counter[str] = field(default_factory=Counter)  # filas.jobs.CancelOutcome -> jobs


def waiting_messages(queue: str) -> list[WaitingMessage]:
    """The queue's ready and delayed messages, as Redis holds them now."""
    client = get_redis()
    found: list[WaitingMessage] = []
    for list_key in (f"{NAMESPACE}:{queue}", f"{NAMESPACE}:{queue}.DQ"):
        ids = client.lrange(list_key, 0, -1)
        bodies = client.hmget(f"{list_key}.msgs", ids) if ids else []
        found += [message for message_id, body in zip(ids, bodies, strict=True)
                  if (message := _waiting(list_key, message_id, body)) is not None]
    return found


def empty_queue(queue: str) -> EmptyingResult:
    """Cancel every waiting job of `queue`, then remove its message. Safe to run again."""
    client = get_redis()
    remove = client.register_script(_REMOVE_SCRIPT)
    result = EmptyingResult()
    for message in waiting_messages(queue):
        outcome = cancel_job(message.job_id, EMPTIED_REASON)
        result.cancelled[str(outcome)] += 1
        result.removed += remove(keys=[message.list_key, f"{message.list_key}.msgs"], args=[message.redis_message_id])
    return result


def _waiting(list_key: str, message_id: bytes | str, body: bytes | str | None) -> WaitingMessage | None:
    if body is None:
        return None  # taken by a worker between the two reads
    try:
        message = dramatiq.Message.decode(body)
    except dramatiq.errors.DecodeError:
        return None
    member = message_id.decode() if isinstance(message_id, bytes) else message_id
    return WaitingMessage(list_key, member, message.message_id, message.actor_name)

