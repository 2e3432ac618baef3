"""Who may use the operations page: a person who typed one of the API's tokens into the login form.

The session is Flask's signed cookie (HttpOnly, SameSite=Strict, path /ops; Secure when FILAS_PUBLIC_URL is
https), valid until SESSION_LIFETIME after its last use. Its key is derived from the configured tokens, so it
is never written anywhere and changing FILAS_API_TOKENS ends every session; the session holds a fingerprint
of the token used, checked on every request. Every POST carries the session's CSRF token in its form.
"""

import hmac
import secrets
from datetime import timedelta

from flask import Flask, abort, current_app, redirect, request, session, url_for

from filas.settings import Settings
from filas_api.auth import is_accepted_token
from filas_api.ops.blueprint import bp

SESSION_LIFETIME = timedelta(hours=8)
# Reachable without a session: the login form itself.
OPEN_ENDPOINTS = {"ops.login", "ops.login_submit"}
CSRF_FIELD = "csrf_token"


def configure_sessions(app: Flask, settings: Settings) -> None:
    app.secret_key = _session_key(app.config["API_TOKENS"])
    app.config.update(
        SESSION_COOKIE_NAME="filas_ops_session",
        SESSION_COOKIE_PATH="/ops",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=settings.public_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
    )


def _session_key(tokens: list[bytes]) -> bytes | None:
    """None without tokens: then nobody can log in, and no cookie can be signed with a guessable key."""
    if not tokens:
        return None
    return hmac.digest(b"\n".join(sorted(tokens)), b"filas operations page session", "sha256")


def _fingerprint(token: bytes) -> str:
    return hmac.digest(current_app.secret_key, token, "sha256").hex()


def log_in(token: str) -> bool:
    if not token or not is_accepted_token(token):
        return False
    session.clear()  # a new session, new CSRF token: nothing set before the login carries over
    session.permanent = True
    session["who"] = _fingerprint(token.encode())
    session["csrf"] = secrets.token_urlsafe(32)
    return True


def log_out() -> None:
    session.clear()


def logged_in() -> bool:
    who = session.get("who")
    if not isinstance(who, str):
        return False
    return any(hmac.compare_digest(who, _fingerprint(token)) for token in current_app.config["API_TOKENS"])


def csrf_token() -> str:
    """The session's CSRF token, for the forms (created on first use, e.g. by the login form)."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def safe_next(target: str | None) -> str:
    """Where to go after the login: a page of this site's operations page, never elsewhere."""
    if target and target.startswith("/ops/") and "//" not in target and "\\" not in target:
        return target
    return url_for("ops.overview")


@bp.context_processor
def _template_helpers() -> dict:
    return {"csrf_field": CSRF_FIELD, "csrf_token": csrf_token, "signed_in": logged_in}


@bp.before_request
def _require_session():
    if current_app.secret_key is None:
        abort(503, "página de operações desativada: nenhum token configurado (FILAS_API_TOKENS)")
    if request.endpoint not in OPEN_ENDPOINTS and not logged_in():
        return redirect(url_for("ops.login", next=request.path))
    if request.method == "POST" and not _csrf_ok():
        abort(400, "formulário sem token CSRF válido: recarregue a página e tente de novo")
    return None


def _csrf_ok() -> bool:
    expected = session.get("csrf")
    sent = request.form.get(CSRF_FIELD, "")
    return isinstance(expected, str) and hmac.compare_digest(sent.encode(), expected.encode())
