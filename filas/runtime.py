"""What an actor may ask about the job it is running: its id, progress reporting, cancellation, fencing."""

from dramatiq import get_broker
from dramatiq.middleware import CurrentMessage

from filas import lifecycle
from filas.broker import get_job_store
from filas.errors import JobCancelled, LeaseLost, WorkerStopping
from filas.middleware import HandBackOnShutdown


def current_job_id() -> str:
    message = CurrentMessage.get_current_message()
    if message is None:
        raise RuntimeError("current_job_id() called outside an actor")
    return message.message_id


def report_progress(done: int, total: int) -> None:
    get_job_store().set_progress(current_job_id(), done, total)


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


def _worker_stopping() -> bool:
    message = CurrentMessage.get_current_message()
    if message is None:
        return False
    hand_back = next((m for m in get_broker().middleware if isinstance(m, HandBackOnShutdown)), None)
    return hand_back is not None and hand_back.stopping.is_set()


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
