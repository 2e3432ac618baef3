"""Dramatiq middleware, one concern each:

- RowLifecycleMiddleware: the truth. A delivery of a row-bound actor runs only after claiming its
  domain row's lease (filas.lifecycle); when it ends, the row says how. The lease is kept alive by a
  LeaseKeeper thread while the actor works.
- JobStateMiddleware: the fast view in Redis (filas.jobs) — queued, started, retrying, final.
- HandBackOnShutdown: on SIGTERM, running jobs hand themselves back at their next safe point.
- CancelledJobsAreAcknowledged: a job stopped on its user's cancel is acknowledged, not dead-lettered.
- OneJobPerThread: a worker fetches no more messages than it has threads.

RowLifecycle and JobState sit before Retries in the middleware list, JobState first: Dramatiq calls after_*
hooks in reverse order, so both run after Retries and see whether a failure was final (`message.failed`),
and the row (the truth) is written before the view — a reader never sees a view that ended before its row.
A delivery refused by its row marks its message (NOT_OWNER, ROW_STATUS) so that the view is left to its
owner; one refused by its view marks it with the state that refused it (VIEW_STATUS), for the metrics.
"""

import logging
import os
import threading
from datetime import timedelta
from functools import partial
from typing import Any

from dramatiq import Middleware
from dramatiq.common import q_name
from dramatiq.middleware import SkipMessage

from filas import lifecycle
from filas.clock import utcnow
from filas.errors import DeliveryPostponed, JobCancelled, describe_failure
from filas.jobs import JobStatus, JobStore, ScriptCall, StartRequest

logger = logging.getLogger(__name__)

# Set on a MessageProxy whose delivery must leave the job alone: another delivery owns it.
NOT_OWNER = "filas_not_owner"
# Set on a MessageProxy refused by its row: the final state its job view should show.
ROW_STATUS = "filas_row_status"
# Set on a MessageProxy refused by its job view: the state that refused it (cancelled when a cancel was asked).
VIEW_STATUS = "filas_view_status"
# A message option: this copy was put back by RowLifecycleMiddleware while another delivery runs the job.
POSTPONED = "filas_postponed"
# A message option: this copy carries on a job whose last delivery did a part of it (filas.runtime.continue_later).
CONTINUATION = "filas_continuation"
# Set on a MessageProxy whose delivery ended by putting its job's message back (continue_later).
CONTINUED = "filas_continued"

_NOT_FETCHED = object()  # a message started on its own, not answered with its fetched batch


def _not_owner(message) -> bool:
    return getattr(message, NOT_OWNER, False)


class JobStateMiddleware(Middleware):
    """queued → started → finished | failed | cancelled, or retrying → started ...; cancelled jobs are skipped.

    On Filas's broker (filas.redis_broker) the view costs almost no round trips of its own: the queued write
    rides with the message's enqueue, the final write of a job without a row with its ack (or nack), and a
    fetched batch is started at once. On a plain RedisBroker each write is its own call."""

    def __init__(self, store: JobStore):
        self.store = store
        # job id → None if it may run, else the state that refuses it. Answered for a whole fetched batch by
        # _start_fetched, popped at its start.
        self._fetched_starts: dict[str, JobStatus | None] = {}

    def after_worker_boot(self, broker, worker) -> None:
        listeners = getattr(broker, "fetch_listeners", None)
        if listeners is not None:
            listeners.append(partial(self._start_fetched, broker))

    def before_enqueue(self, broker, message, delay) -> None:
        if message.options.get(POSTPONED) or message.options.get(CONTINUATION):
            # The job runs, or goes on: its view keeps its state and progress, and learns where its message is
            # (the reconciler looks for it there).
            self._write(broker, message, self.store.update_call(
                message.message_id, broker_queue=message.queue_name,
                redis_message_id=message.options.get("redis_message_id", "")))
            return
        self._write(broker, message, self.store.queued_call(
            message.message_id, message.actor_name, q_name(message.queue_name),
            retries=message.options.get("retries", 0), broker_queue=message.queue_name,
            redis_message_id=message.options.get("redis_message_id", ""),
        ))

    def _start_fetched(self, broker, queue_name: str, messages: list) -> None:
        call = self.store.start_many_call([StartRequest(m.message_id, m.actor_name, queue_name) for m in messages])
        answer = broker.run_calls([call])[0]
        if isinstance(answer, Exception):
            raise answer
        for message, refusal in zip(messages, self.store.refusals(answer), strict=True):
            self._fetched_starts[message.message_id] = refusal

    def before_process_message(self, broker, message) -> None:
        message.options.pop(CONTINUATION, None)  # if this copy fails now, its retry is an ordinary one
        refusal = self._fetched_starts.pop(message.message_id, _NOT_FETCHED)
        if refusal is _NOT_FETCHED:
            refusal = self.store.refused_start(message.message_id, message.actor_name, message.queue_name)
        if refusal is not None:
            logger.info("skipping job %s: its view says %s", message.message_id, refusal)
            setattr(message, VIEW_STATUS, refusal)
            raise SkipMessage()

    def after_process_message(self, broker, message, *, result: Any = None, exception=None) -> None:
        if _not_owner(message):
            return
        if exception is None:
            self._finish(broker, message, JobStatus.FINISHED, result=result)
        elif isinstance(exception, JobCancelled):
            self._finish(broker, message, JobStatus.CANCELLED, error=str(exception) or lifecycle.CANCELLED_MESSAGE)
        elif message.failed:
            exhausted = _retries_exhausted(broker, message, exception)
            self._finish(broker, message, JobStatus.FAILED, error=describe_failure(exception, exhausted=exhausted))
        else:
            self._write(broker, message, self.store.update_call(
                message.message_id, status=JobStatus.RETRYING, error=describe_failure(exception)))

    def after_skip_message(self, broker, message) -> None:
        if _not_owner(message) or getattr(message, CONTINUED, False):
            return
        status = getattr(message, ROW_STATUS, JobStatus.CANCELLED)
        if status.is_final:
            self._finish(broker, message, status, error="não executado")

    def _finish(self, broker, message, status: JobStatus, **fields: Any) -> None:
        call = self.store.finish_call(message.message_id, message.actor_name, q_name(message.queue_name), status,
                                      **fields)
        if lifecycle.model_for(message.actor_name) is not None:
            # Right behind its row's final write, not with the ack: a status read that finds the row ended
            # finds the view ended too (the row keeps the result as well, for the moment in between).
            call.run()
        else:
            self._write(broker, message, call)

    @staticmethod
    def _write(broker, message, call: ScriptCall) -> None:
        send_with = getattr(broker, "send_with", None)
        redis_message_id = message.options.get("redis_message_id")
        if send_with is None or not redis_message_id:
            call.run()
        else:
            send_with(redis_message_id, call)


class RowLifecycleMiddleware(Middleware):
    """Claims the domain row before the actor runs; records the outcome on the row afterwards."""

    def __init__(self, lease_seconds: float):
        self.lease_seconds = lease_seconds
        self.keeper = LeaseKeeper(lease_seconds)

    def after_worker_boot(self, broker, worker) -> None:
        self.keeper.start()

    def after_worker_shutdown(self, broker, worker) -> None:
        # Not before: jobs still running during the shutdown grace period keep their leases.
        self.keeper.stop()

    def before_process_message(self, broker, message) -> None:
        model = lifecycle.model_for(message.actor_name)
        if model is None:
            return
        message.options.pop(POSTPONED, None)  # if this copy fails now, its retry is an ordinary one
        try:
            outcome = lifecycle.claim(model, message.message_id, lifecycle.delivery_owner(), self.lease_seconds)
        except Exception as error:
            logger.warning("job %s: could not claim its row", message.message_id, exc_info=True)
            raise DeliveryPostponed(describe_failure(error)) from error
        if isinstance(outcome, lifecycle.Refusal):
            self._refuse(broker, message, outcome)
        lifecycle.set_current_claim(outcome)
        self.keeper.hold(outcome)

    def _refuse(self, broker, message, refusal: lifecycle.Refusal) -> None:
        logger.info("job %s not run: %s", message.message_id, refusal.reason)
        if refusal.job_status is None:
            setattr(message, NOT_OWNER, True)
            raise SkipMessage(refusal.reason)
        if refusal.held_until is None:
            setattr(message, ROW_STATUS, refusal.job_status)
            raise SkipMessage(refusal.reason)
        # Another delivery runs it now. This copy comes back when that lease would lapse: if that delivery
        # died, this one takes over; if it ended, this one finds the job ended and does nothing. Put back
        # before this copy is acknowledged (never lost), and not as a retry (a postponement is no failure).
        setattr(message, NOT_OWNER, True)
        delay = max(1000, int((refusal.held_until - utcnow() + timedelta(seconds=1)).total_seconds() * 1000))
        try:
            broker.enqueue(message.copy(options={POSTPONED: True}), delay=delay)
        except Exception as error:  # any other exception here would be ignored by Dramatiq: the actor would run
            raise DeliveryPostponed(refusal.reason, delay=delay) from error
        raise SkipMessage(refusal.reason)

    def after_process_message(self, broker, message, *, result: Any = None, exception=None) -> None:
        held = self._let_go()
        if held is None or held.lost:
            return
        if exception is None:
            lifecycle.finish(held, JobStatus.FINISHED, result=result)
        elif isinstance(exception, JobCancelled):
            lifecycle.finish(held, JobStatus.CANCELLED, str(exception) or lifecycle.CANCELLED_MESSAGE)
        elif message.failed:
            exhausted = _retries_exhausted(broker, message, exception)
            lifecycle.finish(held, JobStatus.FAILED, describe_failure(exception, exhausted=exhausted))
        else:
            lifecycle.retrying(held, describe_failure(exception))

    def after_skip_message(self, broker, message) -> None:
        held = self._let_go()
        if held is None:
            return
        if held.lost:
            setattr(message, NOT_OWNER, True)
        else:
            lifecycle.release(held)

    def _let_go(self) -> "lifecycle.Claim | None":
        held = lifecycle.current_claim()
        lifecycle.set_current_claim(None)
        if held is not None:
            self.keeper.drop(held)
        return held


class HandBackOnShutdown(Middleware):
    """On SIGTERM (a rolling update, a scale-in), running jobs stop at their next safe point and are
    handed back at once (filas.runtime.stop_if_cancelled raises WorkerStopping), instead of being cut
    off mid-step when the shutdown timeout runs out."""

    def __init__(self) -> None:
        self.stopping = threading.Event()

    def before_worker_shutdown(self, broker, worker) -> None:
        self.stopping.set()


class CancelledJobsAreAcknowledged(Middleware):
    """A job that stopped because its user cancelled it ended as asked: its message is acknowledged, not
    dead-lettered (Retries fails it, JobCancelled being a declared `throws`). Dead letters are for jobs that
    need a person, and an alert watches them. Placed before Retries: its after hook runs after Retries'."""

    def after_process_message(self, broker, message, *, result: Any = None, exception=None) -> None:
        if isinstance(exception, JobCancelled):
            message.failed = False


class OneJobPerThread(Middleware):
    """Each worker thread holds at most one message of a queue, running or about to run (Dramatiq fetches
    twice as many by default): a pod scaled out gets the waiting work instead of a busy pod holding it, and
    a job marked started at fetch (JobStateMiddleware) is about to run. `dramatiq_queue_prefetch` still wins.
    Delay queues keep Dramatiq's large prefetch: their messages only wait there for their eta."""

    def before_worker_boot(self, broker, worker) -> None:  # before the worker makes its consumers
        if not os.environ.get("dramatiq_queue_prefetch"):
            worker.queue_prefetch = worker.worker_threads


class LeaseKeeper:
    """Renews the leases of the deliveries running in this process, every third of the lease time,
    and notes on each claim whether it was lost or asked to cancel (the actor's safe points read it)."""

    def __init__(self, lease_seconds: float):
        self.lease_seconds = lease_seconds
        self._held: set[lifecycle.Claim] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="filas-lease-keeper", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopped.set()

    def hold(self, held: "lifecycle.Claim") -> None:
        with self._lock:
            self._held.add(held)

    def drop(self, held: "lifecycle.Claim") -> None:
        with self._lock:
            self._held.discard(held)

    def _run(self) -> None:
        while not self._stopped.wait(self.lease_seconds / 3):
            with self._lock:
                held = list(self._held)
            for claim in held:
                try:
                    lifecycle.renew(claim, self.lease_seconds)
                except Exception:
                    logger.warning("could not renew the lease of job %s", claim.job_id, exc_info=True)


def _retries_exhausted(broker, message, exception: BaseException) -> bool:
    """A final failure that Retries decided (not an error the actor declared permanent)."""
    throws = message.options.get("throws") or broker.get_actor(message.actor_name).options.get("throws")
    return message.failed and not (throws and isinstance(exception, throws))

