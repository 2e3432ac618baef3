"""Job metrics of the workers: a Dramatiq middleware writing prometheus-client's multiprocess files, and
the process the `dramatiq` CLI forks to serve their sum (filas.worker_metrics_server).

Per queue and actor (`queue` is the base queue name, without Dramatiq's ".DQ"):

- filas_jobs_started_total: deliveries that started running the actor;
- filas_jobs_succeeded_total;
- filas_jobs_failed_total{exception}: every failed attempt, by exception class (a cancel is no failure; a job
  handed back at SIGTERM is a WorkerStopping attempt, retried; a delivery postponed before it started is none);
- filas_jobs_retried_total: failed attempts that Retries sends again;
- filas_jobs_dead_lettered_total: final failures (retries exhausted, or an error the actor declared final);
- filas_jobs_cancelled_total: the actor stopped on JobCancelled, or the delivery was skipped because its job
  was cancelled;
- filas_job_duration_seconds: the actor's run time, however it ended;
- filas_jobs_in_progress: deliveries running now (live sum: a process that dies takes its own with it);
- filas_worker_threads{queue}: worker threads of the live processes that consume the queue.

A worker entry module calls `prepare_worker_process()` before it imports anything that creates a metric
(the services' domain metrics); `filas.broker.add_worker_metrics` adds the middleware.
"""

import logging
import multiprocessing
import os
import time
from dataclasses import dataclass
from pathlib import Path

from dramatiq import Middleware
from dramatiq.common import q_name
from prometheus_client import Counter, Gauge, Histogram

from filas import prometheus_multiprocess
from filas.errors import JobCancelled
from filas.jobs import JobStatus
from filas.middleware import NOT_OWNER, ROW_STATUS, VIEW_STATUS
from filas.settings import get_settings
from filas.worker_metrics_server import metrics_directory, serve_metrics

logger = logging.getLogger(__name__)

QUEUE_ACTOR = ("queue", "actor")
# From a 10 ms no-op to the 10-minute time limit.
DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
# Set on a MessageProxy whose actor this middleware saw start: perf_counter() at its start.
_STARTED_AT = "filas_metrics_started_at"


def metrics_enabled() -> bool:
    """In the worker processes the `dramatiq` CLI starts, unless FILAS_METRICS_PORT=0; a plain import of a
    worker module (a test, a shell) records nothing and leaves prometheus-client as it was."""
    return get_settings().metrics_port != 0 and multiprocessing.parent_process() is not None


def prepare_worker_process() -> None:
    """Point this worker process's metrics at the worker directory, emptied by the first process of
    this `dramatiq` run. Call before anything creates a metric."""
    if metrics_enabled():
        prometheus_multiprocess.start_fresh_once_per_run(metrics_directory(), _dramatiq_run())


class JobMetrics:
    """The metric objects, created once the process writes its metrics to the multiprocess directory; in
    no registry: the exporter reads them from the processes' files (prometheus_multiprocess)."""

    def __init__(self) -> None:
        self.started = Counter("filas_jobs_started_total", "Deliveries that started running the actor",
                               QUEUE_ACTOR, registry=None)
        self.succeeded = Counter("filas_jobs_succeeded_total", "Jobs whose actor returned", QUEUE_ACTOR,
                                 registry=None)
        self.failed = Counter("filas_jobs_failed_total", "Failed attempts, by exception class",
                              (*QUEUE_ACTOR, "exception"), registry=None)
        self.retried = Counter("filas_jobs_retried_total", "Failed attempts that will be retried", QUEUE_ACTOR,
                               registry=None)
        self.dead_lettered = Counter("filas_jobs_dead_lettered_total",
                                     "Final failures: retries exhausted or a permanent error", QUEUE_ACTOR,
                                     registry=None)
        self.cancelled = Counter("filas_jobs_cancelled_total", "Jobs stopped or skipped because they were cancelled",
                                 QUEUE_ACTOR, registry=None)
        self.duration = Histogram("filas_job_duration_seconds", "Run time of the actor", QUEUE_ACTOR,
                                  buckets=DURATION_BUCKETS, registry=None)
        self.in_progress = Gauge("filas_jobs_in_progress", "Deliveries running now", QUEUE_ACTOR,
                                 multiprocess_mode="livesum", registry=None)
        self.worker_threads = Gauge("filas_worker_threads", "Worker threads of the live processes consuming the queue",
                                    ("queue",), multiprocess_mode="livesum", registry=None)

    def of(self, queue: str, actor: str) -> "QueueActorMetrics":
        return QueueActorMetrics(*(metric.labels(queue, actor) for metric in (
            self.started, self.succeeded, self.retried, self.dead_lettered, self.cancelled, self.duration,
            self.in_progress)))


@dataclass(frozen=True)
class QueueActorMetrics:
    """The metrics of one queue and actor, labelled once: prometheus-client's labels() validates and takes a
    lock on each call, five times a job (bench/job_core.py's filas+prom stack)."""

    started: Counter
    succeeded: Counter
    retried: Counter
    dead_lettered: Counter
    cancelled: Counter
    duration: Histogram
    in_progress: Gauge


class WorkerMetrics(Middleware):
    """Counts each delivery once, by how it ended. Sits before Retries in the middleware list: Dramatiq calls
    after_* hooks in reverse order, so this one runs after Retries has decided (`message.failed`), and its
    before_process_message runs after the middleware that may skip a delivery (job view, row claim)."""

    def __init__(self) -> None:
        prepare_worker_process()  # a no-op when the entry module did it
        self.metrics = JobMetrics()
        self._labelled: dict[tuple[str, str], QueueActorMetrics] = {}
        self._consumed: list[str] = []

    @property
    def forks(self):
        return [serve_metrics]

    def after_worker_boot(self, broker, worker) -> None:
        wanted = worker.consumer_whitelist
        queues = {q_name(name) for name in broker.get_declared_queues()}
        self._consumed = sorted(queue for queue in queues if not wanted or queue in wanted)
        for queue in self._consumed:
            self.metrics.worker_threads.labels(queue).set(worker.worker_threads)

    def before_worker_shutdown(self, broker, worker) -> None:
        for queue in self._consumed:  # it stops taking messages now
            self.metrics.worker_threads.labels(queue).set(0)

    def after_worker_shutdown(self, broker, worker) -> None:
        prometheus_multiprocess.mark_process_dead(os.getpid(), metrics_directory())

    def before_process_message(self, broker, message) -> None:
        if message.failed:  # Dramatiq will not run the actor
            return
        metrics = self._of(message)
        metrics.started.inc()
        metrics.in_progress.inc()
        setattr(message, _STARTED_AT, time.perf_counter())

    def after_process_message(self, broker, message, *, result=None, exception=None) -> None:
        if not self._ended(message):
            return  # refused before it started (postponed): not an attempt
        metrics = self._of(message)
        if exception is None:
            metrics.succeeded.inc()
        elif isinstance(exception, JobCancelled):
            metrics.cancelled.inc()
        else:
            self.metrics.failed.labels(*_labels(message), type(exception).__name__).inc()
            (metrics.dead_lettered if message.failed else metrics.retried).inc()

    def after_skip_message(self, broker, message) -> None:
        if self._ended(message):
            return  # the actor stopped itself (its lease was lost): another delivery carries the job
        if self._skipped_as_cancelled(message):
            self._of(message).cancelled.inc()

    def _ended(self, message) -> bool:
        """End the delivery's in-progress and duration; False if this middleware never saw it start."""
        started_at = getattr(message, _STARTED_AT, None)
        if started_at is None:
            return False
        delattr(message, _STARTED_AT)
        metrics = self._of(message)
        metrics.in_progress.dec()
        metrics.duration.observe(time.perf_counter() - started_at)
        return True

    def _of(self, message) -> QueueActorMetrics:
        labels = _labels(message)
        metrics = self._labelled.get(labels)
        if metrics is None:  # two threads may label the same pair: labels() returns the same children
            metrics = self._labelled.setdefault(labels, self.metrics.of(*labels))
        return metrics

    def _skipped_as_cancelled(self, message) -> bool:
        if getattr(message, NOT_OWNER, False):
            return False  # another delivery owns the job
        status = getattr(message, ROW_STATUS, None) or getattr(message, VIEW_STATUS, None)
        return status == JobStatus.CANCELLED


def _labels(message) -> tuple[str, str]:
    return q_name(message.queue_name), message.actor_name  # a delay queue "q.DQ" is queue "q"


def _dramatiq_run() -> str:
    """Names the `dramatiq` CLI run this worker process belongs to: its parent's pid and start time
    (pids repeat across restarts of a container)."""
    parent = os.getppid()
    try:
        started = Path(f"/proc/{parent}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        started = "unknown"
    return f"{parent}:{started}"
