"""The operations page: queues, recent and failed jobs, a job's detail, requeue of dead letters and cancel,
server-rendered for people (replaces rq-dashboard and Flower for daily work).

Behind the API's own tokens: a login form takes one and keeps a signed session cookie (session_auth.py).
"""

from flask import Flask

from filas.settings import Settings
from filas_api.ops import actions, error_pages, evidence, formatting, login, pages  # noqa: F401  (they add to bp)
from filas_api.ops.blueprint import bp
from filas_api.ops.session_auth import configure_sessions


def register_ops(app: Flask, settings: Settings) -> None:
    configure_sessions(app, settings)
    app.register_blueprint(bp)
