"""What an actor may ask about the job it is running: its id, progress reporting, cancellation."""

from dramatiq.middleware import CurrentMessage

from filas.broker import get_job_store
from filas.errors import JobCancelled


def current_job_id() -> str:
    message = CurrentMessage.get_current_message()
    if message is None:
        raise RuntimeError("current_job_id() called outside an actor")
    return message.message_id


def report_progress(done: int, total: int) -> None:
    get_job_store().set_progress(current_job_id(), done, total)


def stop_if_cancelled() -> None:
    """A safe point: raises JobCancelled if the user asked to cancel this job."""
    if get_job_store().is_cancel_requested(current_job_id()):
        raise JobCancelled("cancelado pelo usuário")


def is_last_attempt(contract) -> bool:
    """True when a transient failure now will not be retried (so the domain row must say 'failed').

    Reads max_retries as the Retries middleware does: the message's own option first, then the contract's."""
    message = CurrentMessage.get_current_message()
    if message is None:
        return False
    max_retries = message.options.get("max_retries", contract.max_retries)
    return message.options.get("retries", 0) >= max_retries
