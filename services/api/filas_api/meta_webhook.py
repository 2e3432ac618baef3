"""WhatsApp Cloud API (Meta) webhook: delivery statuses and patient messages.

    GET  /api/webhooks/meta?hub.mode=subscribe&hub.verify_token=<FILAS_META_VERIFY_TOKEN>&hub.challenge=<n>
         Meta's verification of the callback URL: answers the challenge (text/plain), else 403.
    POST /api/webhooks/meta   signed by Meta: X-Hub-Signature-256: sha256=<HMAC-SHA256 of the raw body with
         FILAS_META_APP_SECRET>. Without a signature 401, with a wrong one 403; nothing is read before it holds.

Changes for another phone number id than FILAS_META_PHONE_NUMBER_ID (when set) are ignored: one Meta app
may serve several numbers.
"""

import hashlib
import hmac
import logging
from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, jsonify, request

from filas.clock import utcnow
from filas.db.models import DeliveryStatus
from filas.phones import mask
from filas_api.envelope import ok
from filas_api.errors import ApiError
from filas_api.schemas import MetaMessagesValue, MetaStatus, MetaWebhook
from filas_api.validation import json_object
from filas_api.whatsapp_events import DeliveryReport, record_delivery, record_reply

logger = logging.getLogger(__name__)

bp = Blueprint("meta_webhook", __name__, url_prefix="/api/webhooks")

SIGNATURE_HEADER = "X-Hub-Signature-256"
SIGNATURE_PREFIX = "sha256="
MAX_CHALLENGE_CHARS = 200
STATUSES = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "failed": DeliveryStatus.FAILED,
}


@bp.get("/meta")
def verify():
    expected = current_app.config["META_VERIFY_TOKEN"]
    if not expected:
        raise ApiError(403, "verificação recusada: FILAS_META_VERIFY_TOKEN não está definido")
    mode, token = request.args.get("hub.mode", ""), request.args.get("hub.verify_token", "")
    challenge = request.args.get("hub.challenge", "")
    if mode != "subscribe" or not hmac.compare_digest(token.encode(), expected.encode()):
        raise ApiError(403, "verificação recusada: hub.mode deve ser subscribe e hub.verify_token igual a "
                            "FILAS_META_VERIFY_TOKEN")
    if not challenge or len(challenge) > MAX_CHALLENGE_CHARS:
        raise ApiError(400, "hub.challenge ausente ou longo demais")
    return Response(challenge, status=200, mimetype="text/plain")


@bp.post("/meta")
def receive():
    _verify_signature()
    event = MetaWebhook.model_validate(json_object())
    counts = {"entregas": 0, "respostas": 0, "ignorados": 0}
    for entry in event.entry:
        for change in entry.changes:
            if change.field == "messages" and change.value is not None and _is_ours(change.value):
                _apply(change.value, counts)
            else:
                counts["ignorados"] += 1
    return jsonify(ok(**counts))


def _verify_signature() -> None:
    secret = current_app.config["META_APP_SECRET"]
    if not secret:
        raise ApiError(403, "webhook da Meta desativado: FILAS_META_APP_SECRET não está definido")
    given = request.headers.get(SIGNATURE_HEADER, "")
    if not given:
        raise ApiError(401, f"assinatura ausente: a Meta assina com o cabeçalho {SIGNATURE_HEADER}")
    # The raw bytes as received: the signature is over them, not over a re-serialised JSON.
    expected = SIGNATURE_PREFIX + hmac.new(secret.encode(), request.get_data(cache=True), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given.strip().lower().encode(), expected.encode()):
        raise ApiError(403, f"assinatura inválida ({SIGNATURE_HEADER} não confere com FILAS_META_APP_SECRET)")


def _is_ours(value: MetaMessagesValue) -> bool:
    ours = current_app.config["META_PHONE_NUMBER_ID"]
    theirs = value.metadata.phone_number_id if value.metadata else None
    if ours and theirs and theirs != ours:
        logger.info("webhook for phone number id %s ignored (FILAS_META_PHONE_NUMBER_ID is %s)", theirs, ours)
        return False
    return True


def _apply(value: MetaMessagesValue, counts: dict[str, int]) -> None:
    for status in value.statuses:
        report = _report(status)
        applied = report is not None and record_delivery(report)
        counts["entregas" if applied else "ignorados"] += 1
    for message in value.messages:
        record_reply(message.sender, message.body_text(), current_app.config["OPT_OUT_WORDS"])
        counts["respostas"] += 1
        logger.debug("message %s from %s", message.type, mask(message.sender))


def _report(status: MetaStatus) -> DeliveryReport | None:
    delivery = STATUSES.get(status.status)
    if delivery is None:
        return None  # e.g. "deleted", "warning": nothing about delivery
    error = status.errors[0] if status.errors else None
    return DeliveryReport(
        gateway_message_id=status.id,
        status=delivery,
        at=datetime.fromtimestamp(int(status.timestamp), UTC) if status.timestamp else utcnow(),
        reference=status.biz_opaque_callback_data,
        error_code=error.code if error else None,
        error=error.text() if error else None,
    )
