"""Error handlers: bad input → 4xx saying what is wrong; Redis/database down → 503; anything else
is a bug → 500 without internals (the traceback goes to the log)."""

import logging

import redis
from flask import Flask, jsonify
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from filas.errors import InfrastructureUnavailable
from filas_api.envelope import error

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """An expected refusal: `status` and a message for the front end, plus optional fields."""

    def __init__(self, http_status: int, message: str, /, **extra):
        super().__init__(message)
        self.http_status = http_status
        self.message = message
        self.extra = extra


def describe_validation_error(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"campo": ".".join(str(part) for part in item["loc"]) or "(corpo)", "erro": item["msg"]}
        for item in exc.errors(include_url=False)
    ]


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return jsonify(error(exc.message, **exc.extra)), exc.http_status

    @app.errorhandler(ValidationError)
    def invalid_body(exc: ValidationError):
        problems = describe_validation_error(exc)
        summary = "; ".join(f"{p['campo']}: {p['erro']}" for p in problems)
        return jsonify(error(f"dados inválidos — {summary}", erros=problems)), 400

    @app.errorhandler(InfrastructureUnavailable)
    @app.errorhandler(redis.RedisError)
    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeout)
    def unavailable(exc: Exception):
        logger.warning("infrastructure unavailable: %s", type(exc).__name__)
        return jsonify(error("serviço temporariamente indisponível (Redis ou banco de dados); tente novamente")), 503

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return jsonify(error(exc.description or exc.name)), exc.code

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        logger.exception("unhandled error")
        return jsonify(error("erro interno")), 500
