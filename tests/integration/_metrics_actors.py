"""Worker module of tests/integration/test_worker_metrics.py (not a test): actors that succeed, fail, retry,
get cancelled or wait, on Filas's worker stack with its job metrics, set up as the worker entry modules do.
Started by the `dramatiq` CLI with tests/integration on its path:

    FILAS_REDIS_URL=... FILAS_METRICS_PORT=... dramatiq _metrics_actors --path tests/integration --processes 2
"""

from filas.worker_metrics import prepare_worker_process

prepare_worker_process()

import dramatiq  # noqa: E402
from dramatiq.middleware import CurrentMessage  # noqa: E402

from filas.broker import add_worker_metrics, get_redis, setup_broker  # noqa: E402
from filas.errors import JobCancelled, PermanentJobError  # noqa: E402

QUEUE = "metrics-test"
FINAL = {"throws": (PermanentJobError, JobCancelled)}  # as filas.contracts declares every actor
FAST_RETRIES = {"min_backoff": 10, "max_backoff": 100, **FINAL}

broker = setup_broker()
add_worker_metrics(broker)


class Flaky(Exception):
    pass


@dramatiq.actor(actor_name="metrics_test.succeed", queue_name=QUEUE, **FINAL)
def succeed() -> None:
    pass


@dramatiq.actor(actor_name="metrics_test.fail_once", queue_name=QUEUE, max_retries=3, **FAST_RETRIES)
def fail_once() -> None:
    if CurrentMessage.get_current_message().options.get("retries", 0) == 0:
        raise Flaky("first attempt")


@dramatiq.actor(actor_name="metrics_test.always_fail", queue_name=QUEUE, max_retries=2, **FAST_RETRIES)
def always_fail() -> None:
    raise Flaky("every attempt")


@dramatiq.actor(actor_name="metrics_test.permanent", queue_name=QUEUE, max_retries=3, **FAST_RETRIES)
def permanent() -> None:
    raise PermanentJobError("bad data: retrying will not help")


@dramatiq.actor(actor_name="metrics_test.cancel", queue_name=QUEUE, **FINAL)
def cancel() -> None:
    raise JobCancelled("cancelled at a safe point")


@dramatiq.actor(actor_name="metrics_test.wait", queue_name=QUEUE, **FINAL)
def wait(key: str) -> None:
    """Runs until something is pushed to the Redis list `key`."""
    while not get_redis().blpop([key], timeout=1):
        pass
