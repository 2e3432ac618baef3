"""Dramatiq middleware that records each job's lifecycle in the JobStore."""

import logging
from typing import Any

from dramatiq import Middleware
from dramatiq.middleware import SkipMessage

from filas.clock import utcnow
from filas.errors import JobCancelled
from filas.jobs import JobStatus, JobStore

logger = logging.getLogger(__name__)


class JobStateMiddleware(Middleware):
    """queued → started → finished | failed | retrying → ... ; cancelled jobs are skipped.

    Must come after Retries in the middleware list, so that `message.failed` tells whether
    a failure was final.
    """

    def __init__(self, store: JobStore):
        self.store = store

    def after_enqueue(self, broker, message, delay) -> None:
        retries = message.options.get("retries", 0)
        if retries:
            self.store.update(message.message_id, status=JobStatus.RETRYING, retries=retries)
        else:
            self.store.record_queued(message.message_id, message.actor_name, message.queue_name)

    def before_process_message(self, broker, message) -> None:
        if self.store.get(message.message_id) is None:  # state expired or lost (Redis flush): record it again
            self.store.record_queued(message.message_id, message.actor_name, message.queue_name)
        if not self.store.start(message.message_id):
            logger.info("skipping cancelled job %s", message.message_id)
            raise SkipMessage()

    def after_process_message(self, broker, message, *, result: Any = None, exception=None) -> None:
        if exception is None:
            self._final(message, JobStatus.FINISHED, result=result)
        elif isinstance(exception, JobCancelled):
            self._final(message, JobStatus.CANCELLED, error=str(exception) or "cancelado pelo usuário")
        elif message.failed:
            self._final(message, JobStatus.FAILED, error=_describe(exception))
        else:
            self.store.update(message.message_id, status=JobStatus.RETRYING, error=_describe(exception))

    def after_skip_message(self, broker, message) -> None:
        job = self.store.get(message.message_id)
        if job is None or job.status not in JobStatus.FINAL:
            self._final(message, JobStatus.CANCELLED, error="ignorado")

    def _final(self, message, status: str, **fields: Any) -> None:
        self.store.update(message.message_id, status=status, finished_at=utcnow(), **fields)


def _describe(exception: BaseException) -> str:
    return str(exception) or type(exception).__name__
