"""What an actor may ask about the job it is running: its id, progress reporting, cancellation, fencing."""

import threading
import time
from collections.abc import Callable
from typing import NoReturn

from dramatiq import get_broker
from dramatiq.middleware import CurrentMessage

from filas import lifecycle
from filas.broker import get_job_store
from filas.errors import JobCancelled, JobContinues, LeaseLost, WorkerStopping
from filas.middleware import CONTINUATION, CONTINUED, HandBackOnShutdown


def current_job_id() -> str:
    message = CurrentMessage.get_current_message()
    if message is None:
        raise RuntimeError("current_job_id() called outside an actor")
    return message.message_id


def report_progress(done: int, total: int) -> None:
    get_job_store().set_progress(current_job_id(), done, total)


def progress_reporter(done_before: int, total: int, every_seconds: float = 1.0) -> Callable[[int], None]:
    """report_progress for work done by other threads: call it with how many were done since `done_before`;
    it writes at most once every `every_seconds`."""
    job_id = current_job_id()
    store = get_job_store()
    last_write = [0.0]
    lock = threading.Lock()

    def report(done_since: int) -> None:
        with lock:
            if time.monotonic() - last_write[0] < every_seconds:
                return
            last_write[0] = time.monotonic()
        store.set_progress(job_id, done_before + done_since, total)

    return report


HAND_BACK_DELAY_MS = 1000


def stop_if_cancelled() -> None:
    """A safe point: raises JobCancelled if the user asked to cancel this job (on its row, or in its
    Redis view), LeaseLost if another delivery took the job over, and WorkerStopping if this worker is
    shutting down (the job is handed back, to resume elsewhere)."""
    if _worker_stopping():
        raise WorkerStopping("o worker está parando: a tarefa continua em outro worker", delay=HAND_BACK_DELAY_MS)
    held = lifecycle.current_claim()
    if held is not None and held.lost:
        raise LeaseLost(f"job {held.job_id}: another delivery holds it now")
    if (held is not None and held.cancel_requested) or get_job_store().is_cancel_requested(current_job_id()):
        raise JobCancelled(lifecycle.CANCELLED_MESSAGE)


CANCEL_CHECK_SECONDS = 1.0


def stop_signal() -> Callable[[], bool]:
    """stop_if_cancelled's question as a function any thread may ask often (between two sends of a chunk):
    True once the worker is shutting down, another delivery took the job over, or its user asked to cancel
    (read from its row by the lease keeper, and from its Redis view at most once a second)."""
    held = lifecycle.current_claim()
    job_id = current_job_id()
    hand_back = _hand_back_middleware()
    last_read = [0.0, False]  # when the view was last read, and what it said
    lock = threading.Lock()

    def must_stop() -> bool:
        if hand_back is not None and hand_back.stopping.is_set():
            return True
        if held is not None and (held.lost or held.cancel_requested):
            return True
        with lock:
            if time.monotonic() - last_read[0] >= CANCEL_CHECK_SECONDS:
                last_read[:] = [time.monotonic(), get_job_store().is_cancel_requested(job_id)]
            return last_read[1]

    return must_stop


def continue_later(delay_ms: int = 0) -> NoReturn:
    """End this delivery with its job not done: its message goes back to its queue (the same job id, after
    `delay_ms`) and the next delivery carries on where this one stopped. For long jobs done in parts — a
    campaign's send, chunk by chunk — so that no delivery runs long, a worker's death loses one part at most,
    and a cancel or a shutdown takes effect between parts. The retry count starts over: a part was done."""
    message = CurrentMessage.get_current_message()
    if message is None:
        raise RuntimeError("continue_later() called outside an actor")
    get_broker().enqueue(message.copy(options={CONTINUATION: True, "retries": 0}), delay=delay_ms or None)
    setattr(message, CONTINUED, True)
    raise JobContinues(f"job {message.message_id} continues in its next delivery")


def _worker_stopping() -> bool:
    if CurrentMessage.get_current_message() is None:
        return False
    hand_back = _hand_back_middleware()
    return hand_back is not None and hand_back.stopping.is_set()


def _hand_back_middleware() -> HandBackOnShutdown | None:
    return next((m for m in get_broker().middleware if isinstance(m, HandBackOnShutdown)), None)


def enter_point_of_no_return(seconds: float) -> None:
    """Before work that must not be done twice (the portal's submit): make sure this delivery still
    holds its row and extend the lease to cover `seconds`, or stop (LeaseLost)."""
    held = lifecycle.current_claim()
    if held is None:
        raise RuntimeError("enter_point_of_no_return() called outside a row-bound actor")
    lifecycle.fence(held, seconds)


def attempt_number() -> int:
    """1 for the first delivery that claimed the row, 2 for the next, ..."""
    held = lifecycle.current_claim()
    return held.attempts if held is not None else 1
