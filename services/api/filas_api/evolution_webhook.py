"""Evolution API webhook: patient replies (messages.upsert) and delivery statuses (messages.update).

Authentication: Evolution v2 sends the custom headers of the instance's webhook configuration with every
event, so the webhook is configured with

    POST /webhook/set/<instance>  {"webhook": {"enabled": true, "url": "https://<api>/api/webhooks/evolution",
        "headers": {"Authorization": "Bearer <FILAS_WEBHOOK_TOKEN>"},
        "events": ["MESSAGES_UPSERT", "MESSAGES_UPDATE"]}}

An Evolution that cannot send headers may put the token in the URL instead (`?token=<FILAS_WEBHOOK_TOKEN>`),
accepted as a fallback: either one carrying the token is enough. (gunicorn's access log writes neither.)
"""

import hmac
import logging
from datetime import UTC, datetime

from flask import Blueprint, current_app, jsonify, request

from filas.clock import utcnow
from filas.db.models import DeliveryStatus
from filas_api.envelope import ok
from filas_api.errors import ApiError
from filas_api.schemas import EvolutionEnvelope, EvolutionEvent, EvolutionStatusEvent
from filas_api.validation import json_object
from filas_api.whatsapp_events import DeliveryReport, record_delivery, record_reply

logger = logging.getLogger(__name__)

bp = Blueprint("evolution_webhook", __name__, url_prefix="/api/webhooks")

# Evolution's message statuses (Baileys acks); PENDING (not left yet) and DELETED say nothing about delivery.
STATUSES = {
    "SERVER_ACK": DeliveryStatus.SENT,
    "DELIVERY_ACK": DeliveryStatus.DELIVERED,
    "READ": DeliveryStatus.READ,
    "PLAYED": DeliveryStatus.READ,
    "ERROR": DeliveryStatus.FAILED,
}


@bp.post("/evolution")
def receive():
    _authenticate()
    # A malformed body is a 400 saying what is wrong (a ValidationError names the field, errors.py):
    # the gateway logs it, and nothing half-read reaches the database.
    body = json_object()
    event = EvolutionEnvelope.model_validate(body).event
    if event == "messages.upsert":
        return _reply(EvolutionEvent.model_validate(body))
    if event == "messages.update":
        return _status(EvolutionStatusEvent.model_validate(body))
    return jsonify(ok(ignorado=True))  # other events may have other shapes: not read further


def _authenticate() -> None:
    expected = current_app.config["WEBHOOK_TOKEN"]
    if not expected:
        raise ApiError(403, "webhook da Evolution desativado: FILAS_WEBHOOK_TOKEN não está definido")
    scheme, _, header_token = request.headers.get("Authorization", "").partition(" ")
    given = [token for token in (header_token.strip() if scheme.lower() == "bearer" else "",
                                 request.args.get("token", "")) if token]
    if not given:
        raise ApiError(401, "envie o cabeçalho Authorization: Bearer <FILAS_WEBHOOK_TOKEN> (nos headers do "
                            "webhook da Evolution)")
    if not any([hmac.compare_digest(token.encode(), expected.encode()) for token in given]):
        raise ApiError(403, "token do webhook inválido")


def _reply(event: EvolutionEvent):
    data = event.data
    key = data.key if data else None
    if key is None or key.fromMe or not key.remoteJid:
        return jsonify(ok(ignorado=True))
    text = data.message.text() if data.message else ""
    return jsonify(ok(**record_reply(key.remoteJid, text, current_app.config["OPT_OUT_WORDS"])))


def _status(event: EvolutionStatusEvent):
    data = event.data
    message_id = data.message_id() if data else None
    status = STATUSES.get((data.status or "").upper()) if data else None
    if data is None or not data.fromMe or message_id is None or status is None:
        return jsonify(ok(ignorado=True))  # a patient's message, or a status that says nothing about delivery
    at = datetime.fromtimestamp(data.timestamp, UTC) if data.timestamp else utcnow()
    error = "a Evolution informou ERROR" if status == DeliveryStatus.FAILED else None
    applied = record_delivery(DeliveryReport(gateway_message_id=message_id, status=status, at=at, error=error))
    return jsonify(ok(atualizada=applied))
