"""Incoming WhatsApp events (Evolution API webhooks): replies and opt-outs.

The gateway cannot send our bearer token, so the webhook URL carries its own secret
(`/api/webhooks/evolution?token=<FILAS_WEBHOOK_TOKEN>`), configured once in the gateway. It is a query
parameter because gunicorn's access log (gunicorn_conf.py) writes paths without their query string."""

import hmac
import logging
import re
import unicodedata

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import or_, select, update

from filas.clock import utcnow
from filas.db.models import Contact
from filas.db.session import session_scope
from filas.opt_outs import record_opt_out
from filas.phones import mask
from filas_api.envelope import ok
from filas_api.errors import ApiError
from filas_api.schemas import EvolutionEnvelope, EvolutionEvent
from filas_api.validation import json_object

logger = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__, url_prefix="/api/webhooks")

# A patient who answers one of these asks not to be contacted again (LGPD art. 18).
OPT_OUT_WORDS = {"SAIR", "PARAR", "STOP", "CANCELAR", "DESCADASTRAR", "NAO QUERO"}
# A sender we never wrote to is stored as an opt-out only if its jid is a phone number (E.164 digits).
E164_DIGITS = re.compile(r"[0-9]{8,15}")


@bp.post("/evolution")
def evolution_event():
    token = request.args.get("token", "")
    expected = current_app.config["WEBHOOK_TOKEN"]
    if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        raise ApiError(404, "não encontrado")
    # A malformed body is a 400 saying what is wrong (a ValidationError names the field, errors.py):
    # the gateway logs it, and nothing half-read reaches the database.
    body = json_object()
    if EvolutionEnvelope.model_validate(body).event != "messages.upsert":
        return jsonify(ok(ignorado=True))  # other events may have other shapes: not read further
    data = EvolutionEvent.model_validate(body).data
    key = data.key if data else None
    if key is None or key.fromMe or not key.remoteJid:
        return jsonify(ok(ignorado=True))
    return jsonify(ok(**record_reply(key.remoteJid, data.message.text() if data.message else "")))


def record_reply(jid: str, text: str) -> dict:
    phone = jid.split("@", 1)[0]
    with session_scope() as session:
        answered = session.execute(
            update(Contact)
            .where(or_(Contact.whatsapp_id == jid, Contact.telefone == phone), Contact.respondeu_em.is_(None))
            .values(respondeu_em=utcnow())
        ).rowcount
        opted_out = _is_opt_out(text)
        if opted_out:
            for telefone in _known_numbers(session, jid, phone):
                record_opt_out(session, telefone, "respondeu pedindo para sair")
    logger.info("reply from %s: %d contacts answered, opt-out=%s", mask(phone), answered, opted_out)
    return {"contatos_respondidos": answered, "opt_out": opted_out}


def _known_numbers(session, jid: str, phone: str) -> set[str]:
    """The E.164 numbers we store for this sender (the jid may lack the 9th digit)."""
    found = set(session.scalars(select(Contact.telefone).where(or_(Contact.whatsapp_id == jid,
                                                                   Contact.telefone == phone))))
    if found or not E164_DIGITS.fullmatch(phone):  # a group or other non-number sender: nothing to store
        return found
    return {phone}


def _is_opt_out(text: str) -> bool:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().strip().upper()
    return plain.rstrip(".!") in OPT_OUT_WORDS
