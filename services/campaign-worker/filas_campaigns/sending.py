"""Sending: one chunk of a campaign's claimed messages, paced and in parallel; or one message alone
(the follow-up), claimed, paced, sent and recorded.

A send's outcome decides its row (send_records.Settlement):
  sent                       → 'enviada', with the gateway's message id;
  recipient refused          → 'falhou' with the reason; not retried (no WhatsApp, invalid number);
  surely not sent (429, 5xx answered, connection refused, bad key) → released: the row is deleted and a
                               later delivery sends it;
  outcome unknown (cut off after the request left) → left 'enviando': the next delivery looks it up at the
                               gateway, or waits for its status webhook (filas_campaigns.cut_off_sends).
A gateway error stops the whole chunk (no more sends into a failing or throttling gateway); a Retry-After
holds back every sender of that number (pacing.SendPacer.hold_off)."""

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from filas.db.models import Contact, MessageStatus
from filas.phones import mask
from filas_campaigns import metrics, records
from filas_campaigns.gateways import (
    GatewayError,
    GatewayTransientError,
    OutgoingMessage,
    RecipientRejected,
    WhatsAppGateway,
)
from filas_campaigns.pacing import SendPacer, pacer_for
from filas_campaigns.send_records import Settlement

logger = logging.getLogger(__name__)


@dataclass
class ChunkResult:
    settlement: Settlement = field(default_factory=Settlement)
    unknown: list[int] = field(default_factory=list)  # message ids left 'enviando'
    stopped_by: BaseException | None = None  # the error that stopped the chunk, if one did


@dataclass(frozen=True)
class Send:
    message_id: int
    contact_id: int
    target: str  # the gateway's id for the number, or the number
    message: OutgoingMessage


def send_chunk(gateway: WhatsAppGateway, pacer: SendPacer, sends: list[Send], must_stop: Callable[[], bool],
               concurrency: int, on_progress: Callable[[int], None] = lambda done: None) -> ChunkResult:
    """Send each of `sends`, `concurrency` at a time, each in its paced slot, until they are all done, a
    gateway error stops the chunk, or `must_stop()` (cancel, pause, shutdown): what was not sent is released."""
    result = ChunkResult()
    stop = threading.Event()
    lock = threading.Lock()

    def send(item: Send) -> None:
        if stop.is_set() or not pacer.wait_for_slot(must_stop, stop):
            with lock:
                result.settlement.released.append(item.message_id)
            return
        outcome = _send_one(gateway, pacer, item)
        with lock:
            _record(result, item, outcome)
            if isinstance(outcome, BaseException) and not isinstance(outcome, RecipientRejected):
                result.stopped_by = result.stopped_by or outcome
                stop.set()
            done = len(result.settlement.sent) + len(result.settlement.failed)
        on_progress(done)

    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(sends))),
                            thread_name_prefix="filas-send") as pool:
        list(pool.map(send, sends))
    return result


def _send_one(gateway: WhatsAppGateway, pacer: SendPacer, item: Send):
    """The gateway's answer: a SentMessage, or the exception that says what happened."""
    try:
        return gateway.send_message(item.target, item.message)
    except GatewayTransientError as error:
        metrics.gateway_error(error)
        if error.retry_after:
            pacer.hold_off(error.retry_after)
        return error
    except GatewayError as error:
        return error
    except Exception as error:  # not ours: whether it left is unknown, it is looked up later
        logger.exception("send of message %s failed unexpectedly", item.message_id)
        return error


def _record(result: ChunkResult, item: Send, outcome) -> None:
    if isinstance(outcome, RecipientRejected):
        result.settlement.failed.append((item.message_id, str(outcome)))
        metrics.message_outcome(metrics.INVALID_NUMBER)
    elif _may_have_left(outcome):
        result.unknown.append(item.message_id)
        metrics.message_outcome(metrics.OUTCOME_UNKNOWN)
    elif isinstance(outcome, BaseException):
        result.settlement.released.append(item.message_id)
        metrics.message_outcome(metrics.FAILED)
    else:
        result.settlement.sent.append((item.message_id, outcome.gateway_message_id, outcome.whatsapp_id,
                                       item.contact_id))
        metrics.message_outcome(metrics.SENT)


def _may_have_left(outcome) -> bool:
    if isinstance(outcome, GatewayTransientError):
        return outcome.outcome_unknown
    return isinstance(outcome, BaseException) and not isinstance(outcome, GatewayError)


class Outcome:
    SENT = "enviada"
    FAILED = "falhou"
    SKIPPED = "ignorada"  # opted out
    ALREADY_DONE = "ja_feita"  # an earlier delivery of this job already handled the contact


def send_once(gateway: WhatsAppGateway, contact: Contact, outgoing: OutgoingMessage, tipo: str,
              referencia: str = "") -> str:
    """Claim, pace, send and record one message (the follow-up's way). A transient gateway error is
    raised after the claim is released (or left 'enviando' if the message may have left)."""
    message = records.claim_message(contact, tipo, referencia)
    if message is None:
        return Outcome.ALREADY_DONE
    if message.status == MessageStatus.IGNORED:
        metrics.message_outcome(metrics.OPTED_OUT)
        return Outcome.SKIPPED
    message_id = message.id
    pacer = pacer_for(gateway.sender, gateway.default_rate_per_second)
    pacer.wait_for_slot(lambda: False)
    try:
        sent = gateway.send_message(contact.whatsapp_id or contact.telefone, outgoing)
    except RecipientRejected as error:
        records.finish_message(message_id, MessageStatus.FAILED, erro=str(error))
        metrics.message_outcome(metrics.INVALID_NUMBER)
        return Outcome.FAILED
    except GatewayTransientError as error:
        metrics.gateway_error(error)
        metrics.message_outcome(metrics.OUTCOME_UNKNOWN if error.outcome_unknown else metrics.FAILED)
        if error.retry_after:
            pacer.hold_off(error.retry_after)
        if not error.outcome_unknown:
            records.release_claim(message_id)
        raise
    except GatewayError:
        records.release_claim(message_id)  # a bad key or URL: sent once it is fixed
        raise
    records.finish_message(message_id, MessageStatus.SENT, gateway_message_id=sent.gateway_message_id)
    metrics.message_outcome(metrics.SENT)
    logger.info("sent %s message to %s", tipo, mask(contact.telefone))
    return Outcome.SENT
