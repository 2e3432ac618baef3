"""Exceptions every service agrees on.

Actors raise `PermanentJobError` for failures a retry cannot fix (bad data, CAPTCHA, refused login,
opted-out number): the broker does not retry them and the job's error message is shown to the user.
Anything else that escapes an actor is treated as transient and retried with backoff.
"""

from dramatiq.errors import Retry
from dramatiq.middleware import MiddlewareError, SkipMessage


class FilasError(Exception):
    """Errors raised by Filas's own code: their messages are written for the people who read them."""


class PermanentJobError(FilasError):
    """A failure that retrying will not fix. Its message is shown to the front end."""


class JobCancelled(FilasError):
    """Raised by an actor at a safe point after the user asked to cancel its job."""


class InfrastructureUnavailable(FilasError):
    """Redis or the database did not answer; the API turns this into a 503."""


class LeaseLost(SkipMessage):
    """Another delivery now holds this job's row: this one stops without touching the row or the job
    (a SkipMessage, so that the worker acknowledges it rather than retrying or dead-lettering it)."""


class JobContinues(SkipMessage):
    """Raised by filas.runtime.continue_later once the job's message is back in its queue: this delivery
    ends here (acknowledged, not a retry nor a failure) and the next one goes on with the same job."""


class WorkerStopping(Retry):
    """Raised at an actor's safe point while its worker shuts down (SIGTERM): the job is handed back
    between two steps, to be resumed by another worker, rather than cut off mid-step by the shutdown."""


class RetryLater(FilasError, Retry):
    """A transient failure whose source said when to come back (an HTTP Retry-After): the Retries
    middleware retries it after `delay` ms instead of its own backoff, still counting it as a retry."""


class DeliveryPostponed(Retry, MiddlewareError):
    """Raised by a middleware before an actor runs: not now, retry later (after `delay` ms if given).

    A MiddlewareError, because Dramatiq logs and ignores any other exception from a before_* hook —
    the actor would run anyway; a Retry, so that the Retries middleware schedules the retry."""


# What a person sees when a job fails with an error that is not ours: infrastructure details (hosts,
# users, SQL) stay in the log.
_GENERIC_FAILURES: tuple[tuple[str, str], ...] = (
    ("TimeLimitExceeded", "tempo limite da tarefa excedido"),
    ("sqlalchemy.", "banco de dados indisponível ou com erro (detalhes no log do worker)"),
    ("psycopg", "banco de dados indisponível ou com erro (detalhes no log do worker)"),
    ("redis.", "Redis indisponível (detalhes no log do worker)"),
    ("playwright.", "falha do navegador (detalhes no log do worker)"),
)


def describe_failure(exception: BaseException, *, exhausted: bool = False) -> str:
    """A message a person can act on: our own errors say what went wrong; others say what kind of
    failure it was, without the details."""
    if isinstance(exception, FilasError):
        text = str(exception) or type(exception).__name__
    else:
        kind = f"{type(exception).__module__}.{type(exception).__name__}"
        text = next((said for prefix, said in _GENERIC_FAILURES if prefix in kind),
                    f"erro inesperado ({type(exception).__name__}; detalhes no log do worker)")
    return f"{text} (tentativas esgotadas)" if exhausted else text
