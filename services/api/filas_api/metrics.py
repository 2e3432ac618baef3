"""Prometheus metrics of the API process: queue depth read from Redis at scrape time."""

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from filas.metrics import QueueDepthCollector

bp = Blueprint("metrics", __name__)
registry = CollectorRegistry()
registry.register(QueueDepthCollector())


@bp.get("/metrics")
def metrics():
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
