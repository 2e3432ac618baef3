"""Liveness and readiness for Kubernetes probes (no auth)."""

import logging

from flask import Blueprint, jsonify
from sqlalchemy import text

from filas.broker import get_redis
from filas.db.session import get_engine

logger = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Ready means PostgreSQL answers: with Redis down the API still accepts work (the row is committed and
    the reconciler enqueues it later), so Redis is reported but does not take the API out of service."""
    checks = {"database": _check(_ping_database), "redis": _check(_ping_redis)}
    ready = checks["database"] == "ok"
    status = "unavailable" if not ready else "ok" if checks["redis"] == "ok" else "degraded"
    return jsonify(status=status, checks=checks), 200 if ready else 503


def _check(probe) -> str:
    try:
        probe()
        return "ok"
    except Exception as error:  # any failure means "not answering"; details go to the log, not to the probe
        logger.warning("readiness: %s failed: %s: %s", probe.__name__, type(error).__name__, error)
        return "unavailable"


def _ping_redis() -> None:
    get_redis().ping()


def _ping_database() -> None:
    with get_engine().connect() as connection:
        connection.execute(text("SELECT 1"))
