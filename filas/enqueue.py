"""Enqueue a job by actor contract, without importing the worker that implements it.

Callers build the message first (`contract.message(...)`), store its `message_id` as the job id
on the domain row, commit, and only then `send` it: an accepted request is never lost between
the database and Redis (a row with a job id and no job state is re-enqueued by the reconciler).
"""

import dramatiq
import redis

from filas.broker import setup_broker
from filas.errors import InfrastructureUnavailable


def send(message: dramatiq.Message) -> dramatiq.Message:
    try:
        return setup_broker().enqueue(message)
    except (redis.RedisError, dramatiq.errors.BrokerConnectionError) as error:
        raise InfrastructureUnavailable(f"Redis indisponível: {error}") from error
