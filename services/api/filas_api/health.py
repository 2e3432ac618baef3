"""Liveness and readiness for Kubernetes probes (no auth)."""

from flask import Blueprint, jsonify
from sqlalchemy import text

from filas.broker import get_redis
from filas.db.session import get_engine

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    checks = {"redis": _check(_ping_redis), "database": _check(_ping_database)}
    ready = all(result == "ok" for result in checks.values())
    return jsonify(status="ok" if ready else "unavailable", checks=checks), 200 if ready else 503


def _check(probe) -> str:
    try:
        probe()
        return "ok"
    except Exception as error:  # any failure means "not ready"; the kind of error is enough here
        return f"erro: {type(error).__name__}"


def _ping_redis() -> None:
    get_redis().ping()


def _ping_database() -> None:
    with get_engine().connect() as connection:
        connection.execute(text("SELECT 1"))
