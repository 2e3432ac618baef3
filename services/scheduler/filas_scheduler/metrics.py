"""The scheduler's metrics, served on FILAS_METRICS_HOST:FILAS_METRICS_PORT (one process: no multiprocess files),
with its liveness at GET /livez (filas_scheduler.liveness).

- filas_scheduler_leader: 1 while this replica holds the scheduler lock, 0 while it waits as a standby;
- filas_scheduler_last_success_timestamp_seconds{task}: unix time of the last successful run of each
  periodic job: a cron message sent, a daily job's run made sure of (sent, or found done or waiting) on
  a day it is due, a leader task that ended without error.
"""

import logging
from collections.abc import Iterable

from dramatiq import Middleware
from prometheus_client import CollectorRegistry, Gauge, make_wsgi_app

from filas.liveness_http import http_server, serve_in_thread, with_livez
from filas.settings import get_settings
from filas_scheduler import liveness

logger = logging.getLogger(__name__)

registry = CollectorRegistry()
leader = Gauge("filas_scheduler_leader", "1 if this scheduler replica holds the lock and schedules, else 0",
               registry=registry)
last_success = Gauge("filas_scheduler_last_success_timestamp_seconds",
                     "Unix time of the last successful run of each periodic task", ["task"], registry=registry)


def serve() -> None:
    """Serve the metrics and /livez from a background thread; a port in use is logged, and scheduling goes on."""
    settings = get_settings()
    app = with_livez(make_wsgi_app(registry), lambda: liveness.verdict(settings.scheduler_liveness_seconds))
    try:
        serve_in_thread(http_server(app, settings.metrics_host, settings.metrics_port))
    except OSError:
        logger.exception("cannot serve metrics on %s:%s", settings.metrics_host, settings.metrics_port)


def record_success(task: str) -> None:
    last_success.labels(task).set_to_current_time()


class RecordCronSends(Middleware):
    """Records each cron schedule's run when periodiq's send of its message has reached Redis."""

    def __init__(self, actor_names: Iterable[str]):
        self.actor_names = frozenset(actor_names)

    def after_enqueue(self, broker, message, delay) -> None:
        if message.actor_name in self.actor_names:
            record_success(message.actor_name)
