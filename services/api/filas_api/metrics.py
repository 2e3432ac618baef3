"""Prometheus metrics of the API, at /metrics:

- filas_http_requests_total{route, method, status} and filas_http_request_duration_seconds{route, method},
  `route` being the URL rule's template ("/portal/api/status-job/<job_id>"; "unmatched" for a path no
  rule matches), so that ids never become label values;
- the queue depths read from Redis, and the progress of campaigns being sent read from PostgreSQL, at scrape
  time (filas.metrics), exported by the API only: one series per queue and campaign for the whole deployment.

Under gunicorn (gunicorn_conf.py) the request metrics live in prometheus-client's multiprocess files, and
any worker's /metrics sums every worker's; without it (the Flask test client) in this process's memory.
"""

import time

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from filas import prometheus_multiprocess
from filas.metrics import CampaignProgressCollector, QueueDepthCollector

UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})  # any other is "other"
# From a health check's millisecond to the 30 s worker timeout.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

bp = Blueprint("metrics", __name__)

requests_total = Counter("filas_http_requests_total", "HTTP requests answered, by route template, method and status",
                         ["route", "method", "status"], registry=None)
request_duration = Histogram("filas_http_request_duration_seconds", "Time to answer an HTTP request",
                             ["route", "method"], buckets=DURATION_BUCKETS, registry=None)


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(QueueDepthCollector())
    registry.register(CampaignProgressCollector())
    directory = prometheus_multiprocess.directory_in_use()
    if directory is None:
        registry.register(requests_total)
        registry.register(request_duration)
    else:
        registry.register(prometheus_multiprocess.LiveProcessesCollector(directory))
    return registry


registry = _registry()


@bp.get("/metrics")
def metrics():
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def register_request_metrics(app: Flask) -> None:
    app.before_request(_start_timer)
    app.after_request(_count)


def _start_timer() -> None:
    g.metrics_started_at = time.perf_counter()


def _count(response: Response) -> Response:
    route = request.url_rule.rule if request.url_rule is not None else UNMATCHED
    method = request.method if request.method in METHODS else "other"
    requests_total.labels(route, method, str(response.status_code)).inc()
    started_at = g.pop("metrics_started_at", None)
    if started_at is not None:  # None: a before_request function ran and answered before ours
        request_duration.labels(route, method).observe(time.perf_counter() - started_at)
    return response
