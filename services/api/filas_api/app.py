"""The Flask app factory."""

from flask import Flask

from filas.logs import configure_logging
from filas.settings import Settings, get_settings
from filas_api import (
    campaigns,
    contact_import,
    docs,
    erasure,
    evolution_webhook,
    health,
    meta_webhook,
    metrics,
    portal,
    tasks,
)
from filas_api.auth import accepted_tokens, register_auth
from filas_api.converters import register_converters
from filas_api.errors import register_error_handlers
from filas_api.ops import register_ops


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_format)
    app = Flask(__name__)
    app.config.update(
        API_TOKENS=accepted_tokens(settings.api_tokens.get_secret_value()),
        PUBLIC_URL=settings.public_url,
        WEBHOOK_TOKEN=settings.webhook_token.get_secret_value(),
        META_APP_SECRET=settings.meta_app_secret.get_secret_value(),
        META_VERIFY_TOKEN=settings.meta_verify_token.get_secret_value(),
        META_PHONE_NUMBER_ID=settings.meta_phone_number_id,
        OPT_OUT_WORDS=settings.opt_out_words,
        MAX_CONTENT_LENGTH=settings.api_max_body_bytes,  # a larger body is a 413 (errors.py)
    )
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    metrics.register_request_metrics(app)  # first: its timer starts before other before_request functions
    register_converters(app.url_map)  # before the blueprints: their rules use the converters
    for blueprint in (health.bp, metrics.bp, docs.bp, portal.bp, campaigns.bp, contact_import.bp, erasure.bp,
                      tasks.bp, evolution_webhook.bp, meta_webhook.bp):
        app.register_blueprint(blueprint)
    register_ops(app, settings)  # the operations page (HTML, a login form instead of the bearer header)
    register_auth(app)
    register_error_handlers(app)
    return app
