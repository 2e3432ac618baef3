"""Error handlers: bad input → 4xx saying what is wrong; Redis/database down → 503; anything else
is a bug → 500 without internals (the traceback goes to the log)."""

import logging

import redis
from flask import Flask, jsonify, request
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

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
        {"campo": printable(".".join(str(part) for part in item["loc"])) or "(corpo)", "erro": printable(item["msg"])}
        for item in exc.errors(include_url=False)
    ]


def printable(text: str) -> str:
    """Text from the request (a field name) made safe to send back: a lone surrogate cannot be encoded
    as UTF-8, so it is shown escaped (\\ud800) instead of breaking the response."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _for_the_log(exc: Exception) -> str:
    """The error and, for the database, its statement, without the bound parameters (personal data)."""
    if isinstance(exc, DBAPIError):
        text = f"{type(exc).__name__} ({type(exc.orig).__name__}: {exc.orig})"
        return f"{text} [SQL: {exc.statement}]" if exc.statement else text
    return f"{type(exc).__name__}: {exc}"


def is_outage(exc: DBAPIError) -> bool:
    """The database is unreachable, stuck or went away (statement timeout, lost connection), as opposed
    to a statement it refused (a bug)."""
    return isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated


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
    @app.errorhandler(PoolTimeout)
    def unavailable(exc: Exception):
        # The log keeps what the response must not show (hosts, users, SQL).
        logger.warning("infrastructure unavailable: %s", _for_the_log(exc))
        return jsonify(error("serviço temporariamente indisponível (Redis ou banco de dados); tente novamente")), 503

    @app.errorhandler(DBAPIError)
    def database_error(exc: DBAPIError):
        if is_outage(exc):
            return unavailable(exc)
        return unexpected(exc)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc: RequestEntityTooLarge):
        limit = request.max_content_length  # the app's, or the one a route set for itself (contacts CSV)
        return jsonify(error(f"o corpo da requisição passa do limite de {limit} bytes")), 413

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        message = exc.description or exc.name
        if request.blueprint is None and request.path.startswith("/portal/"):
            # No route matched (e.g. an id out of range), so no blueprint chose the dialect: the path does.
            return jsonify({"success": False, "message": message}), exc.code
        return jsonify(error(message)), exc.code

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        logger.exception("unhandled error")
        return jsonify(error("erro interno")), 500
