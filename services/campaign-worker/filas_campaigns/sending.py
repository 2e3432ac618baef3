"""Send one message to one contact, exactly once: claim the row, send, record the outcome."""

import logging

from filas.db.models import Contact, MessageStatus
from filas.phones import mask
from filas_campaigns import metrics, records
from filas_campaigns.gateways import (
    GatewayTransientError,
    OutgoingMessage,
    RecipientRejected,
    WhatsAppGateway,
)

logger = logging.getLogger(__name__)


class Outcome:
    SENT = "enviada"
    FAILED = "falhou"
    SKIPPED = "ignorada"  # opted out
    ALREADY_DONE = "ja_feita"  # an earlier delivery of this job already handled the contact


def send_once(gateway: WhatsAppGateway, contact: Contact, outgoing: OutgoingMessage, tipo: str,
              referencia: str = "") -> str:
    message = records.claim_message(contact, tipo, referencia)
    if message is None:
        return Outcome.ALREADY_DONE
    if message.status == MessageStatus.IGNORED:
        metrics.message_outcome(metrics.OPTED_OUT)
        return Outcome.SKIPPED
    message_id = message.id
    try:
        sent = gateway.send_message(contact.whatsapp_id or contact.telefone, outgoing)
    except RecipientRejected as error:
        records.finish_message(message_id, MessageStatus.FAILED, erro=str(error))
        metrics.message_outcome(metrics.INVALID_NUMBER)
        return Outcome.FAILED
    except GatewayTransientError as error:
        metrics.gateway_error(error)
        metrics.message_outcome(metrics.OUTCOME_UNKNOWN if error.outcome_unknown else metrics.FAILED)
        if not error.outcome_unknown:
            records.release_claim(message_id)
        # else: it may have arrived; the row stays 'enviando' and is never sent again (no duplicates).
        raise
    records.finish_message(message_id, MessageStatus.SENT, gateway_message_id=sent.gateway_message_id)
    metrics.message_outcome(metrics.SENT)
    logger.info("sent %s message to %s", tipo, mask(contact.telefone))
    return Outcome.SENT
