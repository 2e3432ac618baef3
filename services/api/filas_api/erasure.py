"""Personal data (LGPD art. 18): a patient asks for their data to be erased."""

import logging

from flask import Blueprint, jsonify

from filas.db.session import session_scope
from filas.personal_data import erase_number
from filas.phones import mask
from filas_api.envelope import ok
from filas_api.schemas import ErasureRequest
from filas_api.validation import parse_body

logger = logging.getLogger(__name__)

bp = Blueprint("erasure", __name__, url_prefix="/api")


@bp.post("/dados-pessoais/apagar")
def erase_personal_data():
    """Every contact with the number, in every campaign, and their messages are deleted; the number is
    opted out (kept as a keyed hash), so that no campaign reaches it again. Asking again is no error."""
    body = parse_body(ErasureRequest)
    with session_scope() as session:
        deleted = erase_number(session, body.telefone)
    logger.info("personal data of %s erased: %d contacts in %d campaigns, %d messages; opted out",
                mask(body.telefone), deleted.contacts, deleted.campaigns, deleted.messages)
    return jsonify(ok(contatos_apagados=deleted.contacts, mensagens_apagadas=deleted.messages,
                      campanhas=deleted.campaigns, opt_out=True))
