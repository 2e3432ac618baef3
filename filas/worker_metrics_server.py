"""The process the `dramatiq` CLI forks (WorkerMetrics.forks) to serve the workers' metrics and /livez.

Kept apart from filas.worker_metrics (the middleware) so the fork imports only what serving needs: the CLI's
fork imports the module its function lives in, and the middleware's imports (the job model, SQLAlchemy) would
cost this long-lived process about 30 MiB for nothing (bench/portal_throughput.py's memory table)."""

import logging
from pathlib import Path

from prometheus_client import CollectorRegistry, make_wsgi_app

from filas import prometheus_multiprocess
from filas.liveness_http import http_server, with_livez
from filas.settings import get_settings
from filas.worker_liveness import verdict

logger = logging.getLogger(__name__)

SERVICE = "worker"  # the multiprocess directory: <FILAS_METRICS_DIR>/worker


def serve_metrics() -> int:
    """Serves the sum of the worker processes' metric files on FILAS_METRICS_HOST:FILAS_METRICS_PORT, and
    GET /livez (filas.worker_liveness), until it is stopped. A port in use leaves the workers running,
    unobserved."""
    settings = get_settings()
    registry = CollectorRegistry()
    registry.register(prometheus_multiprocess.LiveProcessesCollector(metrics_directory()))
    app = with_livez(make_wsgi_app(registry), lambda: verdict(metrics_directory(), settings.worker_liveness_seconds))
    try:
        server = http_server(app, settings.metrics_host, settings.metrics_port)
    except OSError:
        logger.exception("cannot serve metrics on %s:%s", settings.metrics_host, settings.metrics_port)
        return 1
    logger.info("serving metrics and /livez on %s:%s", settings.metrics_host, settings.metrics_port)
    server.serve_forever()
    return 0


def metrics_directory() -> Path:
    """Where the worker processes write their metric files, and where this process reads them."""
    return prometheus_multiprocess.service_directory(SERVICE)
