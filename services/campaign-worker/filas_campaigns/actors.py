"""The campaign worker's actors: validate numbers, send a campaign, the daily follow-up, clean-up."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from filas.db.models import MessageKind, WhatsappStatus
from filas.errors import PermanentJobError
from filas.runtime import report_progress, stop_if_cancelled
from filas.settings import get_settings
from filas_campaigns import metrics, records
from filas_campaigns.gateways import (
    GatewayPermanentError,
    GatewayTransientError,
    NumberStatus,
    OutgoingMessage,
    WhatsAppGateway,
    gateway_from_settings,
)
from filas_campaigns.sending import send_once

logger = logging.getLogger(__name__)

VALIDATION_CHUNK = 100


def validate_numbers(campaign_id: int) -> dict[str, Any]:
    """The worker's RowLifecycleMiddleware claimed the campaign for this job and closes it afterwards."""
    total = records.count_contacts(campaign_id)
    pending = records.contacts_to_validate(campaign_id)
    done = total - len(pending)
    with _gateway_errors_are_permanent():
        gateway = gateway_from_settings(get_settings())
        try:
            for start in range(0, len(pending), VALIDATION_CHUNK):
                stop_if_cancelled()
                chunk = pending[start:start + VALIDATION_CHUNK]
                statuses = _check_numbers(gateway, [contact.telefone for contact in chunk])
                records.save_validation({c.id: (s.exists, s.whatsapp_id) for c, s in zip(chunk, statuses, strict=True)})
                done += len(chunk)
                report_progress(done, total)
        finally:
            gateway.close()
    report_progress(total, total)
    return {
        "campanha_id": campaign_id,
        "validos": records.count_contacts(campaign_id, WhatsappStatus.VALID),
        "invalidos": records.count_contacts(campaign_id, WhatsappStatus.INVALID),
    }


def send_campaign(campaign_id: int) -> dict[str, Any]:
    """Each contact is claimed before its send (send_once), so a redelivery skips those already done."""
    campaign = records.load_campaign(campaign_id)
    contacts = records.valid_contacts(campaign_id)
    with _gateway_errors_are_permanent():
        gateway = gateway_from_settings(get_settings())
        try:
            for done, contact in enumerate(contacts, start=1):
                stop_if_cancelled()
                send_once(gateway, contact, OutgoingMessage(campaign.mensagem), MessageKind.INITIAL)
                report_progress(done, len(contacts))
        finally:
            gateway.close()
    report_progress(len(contacts), len(contacts))
    return {"campanha_id": campaign_id, **records.count_messages(campaign_id, MessageKind.INITIAL)}


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
