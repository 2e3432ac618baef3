"""Bearer-token authentication for every route except health, metrics and docs."""

import hmac

from flask import Flask, current_app, request

from filas_api.errors import ApiError

# Gateways' webhooks authenticate on their own (evolution_webhook.py: FILAS_WEBHOOK_TOKEN; meta_webhook.py:
# the body's signature with FILAS_META_APP_SECRET): gateways cannot send our API tokens.
PUBLIC_ENDPOINTS = {"health.healthz", "health.readyz", "docs.openapi", "metrics.metrics", "evolution_webhook.receive",
                    "meta_webhook.verify", "meta_webhook.receive", "static"}
# Pages for people, whose browsers cannot send a bearer header: a login form takes the token and keeps a
# signed session cookie instead (ops/session_auth.py).
COOKIE_AUTH_BLUEPRINTS = {"ops"}


def accepted_tokens(raw: str) -> list[bytes]:
    return [token.strip().encode() for token in raw.split(",") if token.strip()]


def register_auth(app: Flask) -> None:
    @app.before_request
    def require_bearer_token() -> None:
        if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
            return
        if request.blueprint in COOKIE_AUTH_BLUEPRINTS:
            return
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "envie o cabeçalho Authorization: Bearer <token>")
        if not is_accepted_token(token):
            raise ApiError(401, "token inválido")


def is_accepted_token(token: str) -> bool:
    return any(hmac.compare_digest(token.encode(), known) for known in current_app.config["API_TOKENS"])
