"""The campaign worker's actors: validate a campaign's numbers, send a campaign.

Both work in parts, one part per delivery of their job (filas.runtime.continue_later): no delivery runs
long, a worker's death loses one part at most, and cancel, pause and shutdown take effect between parts.
The worker's RowLifecycleMiddleware claims the campaign's row for each delivery and closes it at the end."""

import logging
import math
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

from dramatiq.middleware import CurrentMessage

from filas.db.models import Campaign, WhatsappStatus
from filas.errors import PermanentJobError, RetryLater, describe_failure
from filas.runtime import continue_later, progress_reporter, report_progress, stop_if_cancelled, stop_signal
from filas.settings import get_settings
from filas_campaigns import cut_off_sends, metrics, records, send_records
from filas_campaigns.gateways import (
    GatewayPermanentError,
    GatewayTransientError,
    NumberStatus,
    WhatsAppGateway,
    gateway_from_settings,
)
from filas_campaigns.outgoing import outgoing_message
from filas_campaigns.pacing import pacer_for
from filas_campaigns.sending import ChunkResult, Send, send_chunk

logger = logging.getLogger(__name__)

VALIDATION_BATCH = 100
VALIDATION_PER_DELIVERY = 2000
# A send delivery claims at most what its number's rate sends in this long: a part stays short at any rate.
CHUNK_SECONDS = 60
# After a gateway error, the next part waits 1, 2, 4 ... s (at least the gateway's Retry-After): ten in a row
# without progress span about 17 minutes of a gateway throttling or down.
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 600.0


def validate_numbers(campaign_id: int) -> dict[str, Any]:
    total = records.count_contacts(campaign_id)
    pending = records.contacts_to_validate(campaign_id, limit=VALIDATION_PER_DELIVERY)
    with _gateway_errors_are_permanent(), closing(gateway_from_settings(get_settings())) as gateway:
        for start in range(0, len(pending), VALIDATION_BATCH):
            stop_if_cancelled()
            batch = pending[start:start + VALIDATION_BATCH]
            statuses = _check_numbers(gateway, [contact.telefone for contact in batch])
            records.save_validation({c.id: (s.exists, s.whatsapp_id) for c, s in zip(batch, statuses, strict=True)})
            report_progress(total - records.count_contacts(campaign_id, WhatsappStatus.PENDING), total)
    if len(pending) == VALIDATION_PER_DELIVERY:
        continue_later()
    report_progress(total, total)
    return {
        "campanha_id": campaign_id,
        "validos": records.count_contacts(campaign_id, WhatsappStatus.VALID),
        "invalidos": records.count_contacts(campaign_id, WhatsappStatus.INVALID),
        "numeros_verificados": gateway.checks_numbers,
    }


def send_campaign(campaign_id: int) -> dict[str, Any]:
    """One part: settle the sends an earlier delivery cut off, then claim and send the next chunk."""
    settings = get_settings()
    campaign = records.load_campaign(campaign_id)
    with _gateway_errors_are_permanent(), closing(gateway_from_settings(settings)) as gateway:
        resolution = _settle_cut_off_sends(gateway, campaign, settings.campaign_unknown_send_wait_seconds)
        pacer = pacer_for(gateway.sender, gateway.default_rate_per_second)
        claims, opted_out = send_records.claim_chunk(campaign_id, _chunk_size(pacer.rate_per_second))
        metrics.message_outcome(metrics.OPTED_OUT, opted_out)
        sends = [_send_for(campaign, claimed) for claimed in claims]
        result = send_chunk(gateway, pacer, sends, stop_signal(), settings.campaign_send_concurrency,
                            on_progress=progress_reporter(*send_records.progress(campaign_id)))
        send_records.settle(result.settlement)
    done, total = send_records.progress(campaign_id)
    report_progress(done, total)
    logger.info("campaign %s: %d of %d sent or settled (%d this part)", campaign_id, done, total,
                len(result.settlement.sent))
    _raise_for_stop(result)
    stop_if_cancelled()
    if claims or opted_out or result.unknown:
        continue_later()  # the next part claims the next chunk, and looks up sends cut off now
    if resolution.waiting:
        continue_later(int(min(resolution.retry_in_seconds, CHUNK_SECONDS) * 1000) + 1)
    return {"campanha_id": campaign_id, **send_records.message_counts(campaign_id)}


def _settle_cut_off_sends(gateway: WhatsAppGateway, campaign: Campaign, wait_seconds: int):
    cut_off = send_records.cut_off_sends(campaign.id)
    resolution = cut_off_sends.resolve(gateway, campaign, cut_off, wait_seconds)
    send_records.settle(resolution.settlement)
    return resolution


def _send_for(campaign: Campaign, claimed: send_records.ClaimedSend) -> Send:
    contact = claimed.contact
    message = outgoing_message(campaign, contact, campaign.mensagem, reference=str(claimed.message_id))
    return Send(claimed.message_id, contact.id, contact.whatsapp_id or contact.telefone, message)


def _chunk_size(rate_per_second: float) -> int:
    return max(1, min(get_settings().campaign_chunk_size, math.ceil(rate_per_second * CHUNK_SECONDS)))


def _raise_for_stop(result: ChunkResult) -> None:
    """A gateway error stopped the part. Permanent (bad key, unknown instance): the job fails, and its contacts
    not sent are free for the next /enviar. Transient (429, 5xx, unreachable): the job goes on after the
    gateway's Retry-After or an exponential backoff, whichever is longer — as a new part if this one sent
    something, else as a retry (SEND_CAMPAIGN.max_retries in a row fail the job)."""
    error = result.stopped_by
    if error is None:
        return
    if isinstance(error, GatewayPermanentError):
        raise PermanentJobError(f"gateway recusou o envio: {error}") from error
    message = CurrentMessage.get_current_message()
    retries = message.options.get("retries", 0) if message is not None else 0
    backoff = min(BACKOFF_BASE_SECONDS * 2 ** retries, BACKOFF_MAX_SECONDS)
    delay_ms = int(max(getattr(error, "retry_after", None) or 0, backoff) * 1000)
    if result.settlement.sent:
        continue_later(delay_ms)
    raise RetryLater(describe_failure(error), delay=delay_ms) from error


def _check_numbers(gateway: WhatsAppGateway, numbers: list[str]) -> list[NumberStatus]:
    try:
        return gateway.check_numbers(numbers)
    except GatewayTransientError as error:
        metrics.gateway_error(error)
        raise


@contextmanager
def _gateway_errors_are_permanent() -> Iterator[None]:
    """A gateway that refuses the operation itself (bad key, unknown instance) will refuse it again."""
    try:
        yield
    except GatewayPermanentError as error:
        raise PermanentJobError(f"gateway recusou a operação: {error}") from error
