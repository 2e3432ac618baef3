"""Errors on the operations page are pages too: bad input a 4xx saying what is wrong, Redis or PostgreSQL
down a 503, anything else a 500 without internals (the details go to the log)."""

import logging

import redis
from flask import render_template
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from filas.errors import InfrastructureUnavailable
from filas_api.errors import is_outage
from filas_api.ops.blueprint import bp

logger = logging.getLogger(__name__)

UNAVAILABLE = "Redis ou o banco de dados não responde agora. Nada foi alterado; tente de novo em instantes."


def error_page(status: int, title: str, message: str):
    return render_template("ops/error.html", status=status, title=title, message=message), status


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return error_page(exc.code or 500, exc.name, exc.description or exc.name)


@bp.errorhandler(InfrastructureUnavailable)
@bp.errorhandler(redis.RedisError)
@bp.errorhandler(PoolTimeout)
def _unavailable(exc: Exception):
    logger.warning("operations page: infrastructure unavailable (%s)", type(exc).__name__)
    return error_page(503, "Serviço indisponível", UNAVAILABLE)


@bp.errorhandler(DBAPIError)
def _database_error(exc: DBAPIError):
    if is_outage(exc):
        return _unavailable(exc)
    return _unexpected(exc)


@bp.errorhandler(Exception)
def _unexpected(exc: Exception):
    logger.exception("operations page: unhandled error")
    return error_page(500, "Erro interno", "Erro inesperado; os detalhes estão no log da API.")
