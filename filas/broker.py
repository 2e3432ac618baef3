"""The Dramatiq Redis broker every service uses, and the Redis client behind job state."""

import logging

import dramatiq
import redis
from dramatiq.middleware import CurrentMessage, Retries

from filas.jobs import JobStore
from filas.middleware import (
    CancelledJobsAreAcknowledged,
    HandBackOnShutdown,
    JobStateMiddleware,
    OneJobPerThread,
    RowLifecycleMiddleware,
)
from filas.redis_broker import FilasRedisBroker
from filas.settings import Settings, get_settings
from filas.singletons import process_wide


@process_wide()
def get_redis() -> redis.Redis:
    settings = get_settings()
    return redis.Redis.from_url(
        settings.redis_url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30
    )


@process_wide()
def get_job_store() -> JobStore:
    return JobStore(get_redis(), get_settings().job_retention_seconds)


def build_broker(settings: Settings) -> FilasRedisBroker:
    """A Redis broker whose dead-worker recovery takes seconds, not the library's many minutes."""
    broker = FilasRedisBroker(
        url=settings.redis_url,
        heartbeat_timeout=settings.broker_heartbeat_timeout_ms,
        maintenance_chance=settings.broker_maintenance_chance,
    )
    broker.add_middleware(CurrentMessage())
    # Dramatiq calls after_* hooks in reverse order: placed before Retries, these run after it and see
    # whether a failure was final (message.failed). The row (the truth) is written before the Redis view.
    broker.add_middleware(JobStateMiddleware(get_job_store()), before=Retries)
    broker.add_middleware(RowLifecycleMiddleware(settings.job_lease_seconds), before=Retries)
    broker.add_middleware(CancelledJobsAreAcknowledged(), before=Retries)
    broker.add_middleware(HandBackOnShutdown())
    broker.add_middleware(OneJobPerThread())
    logging.getLogger("dramatiq.worker.WorkerThread").addFilter(_results_are_kept_in_job_state)
    logging.getLogger("dramatiq.worker.WorkerThread").addFilter(_skips_are_explained_by_filas)
    return broker


def _results_are_kept_in_job_state(record: logging.LogRecord) -> bool:
    """Actors' return values go to the job state (JobStateMiddleware), not to a Results backend:
    Dramatiq's warning that they are discarded is not true here."""
    return "returned a value that is not None" not in record.getMessage()


def _skips_are_explained_by_filas(record: logging.LogRecord) -> bool:
    """Filas skips a delivery on purpose — a cancelled job, a row another delivery holds, a job that goes on in
    its next delivery (filas.runtime.continue_later) — and its middleware logs why. Dramatiq's warning for
    every skip would only repeat it, without the reason."""
    return not record.getMessage().endswith("was skipped.")


def add_worker_metrics(broker: FilasRedisBroker) -> None:
    """Filas's job metrics (filas.worker_metrics), served by a process the `dramatiq` CLI forks, on
    FILAS_METRICS_HOST:FILAS_METRICS_PORT (default 0.0.0.0:9191); none with FILAS_METRICS_PORT=0.
    Before Retries, like the job state: its after_* hooks run after Retries and see final failures.
    The same server answers the liveness probe, from the heartbeats of ConsumerHeartbeat (filas.worker_liveness)."""
    from filas.worker_liveness import ConsumerHeartbeat
    from filas.worker_metrics import WorkerMetrics, metrics_enabled  # only workers need prometheus-client

    if metrics_enabled():
        broker.add_middleware(WorkerMetrics(), before=Retries)
        broker.add_middleware(ConsumerHeartbeat())


@process_wide()
def setup_broker() -> FilasRedisBroker:
    """Build the process-wide broker once and make it Dramatiq's global broker."""
    broker = build_broker(get_settings())
    dramatiq.set_broker(broker)
    return broker
