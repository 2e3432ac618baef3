"""The campaign worker's actors: validate numbers, send a campaign, the daily follow-up, clean-up."""

import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from dramatiq.middleware import CurrentMessage

from filas import contracts
from filas.clock import utcnow
from filas.db.models import MessageKind, WhatsappStatus
from filas.errors import PermanentJobError
from filas.runtime import current_job_id, report_progress, stop_if_cancelled
from filas.settings import get_settings
from filas_campaigns import metrics, records
from filas_campaigns.gateways import (
    GatewayPermanentError,
    GatewayTransientError,
    NumberStatus,
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
                send_once(gateway, contact, campaign.mensagem, MessageKind.INITIAL)
                report_progress(done, len(contacts))
        finally:
            gateway.close()
    report_progress(len(contacts), len(contacts))
    return {"campanha_id": campaign_id, **records.count_messages(campaign_id, MessageKind.INITIAL)}


def follow_up() -> dict[str, Any]:
    """Follow up, once per local day, with contacts whose first message went out before that day.

    The day is the one the scheduler sent the message for (its `scheduled_at`; today for a message sent
    by hand). It runs only on that day and before `follow_up_catch_up_until`, so a follow-up missed at its
    cron time (scheduler or workers down) still goes out once they are back the same morning, and a
    message delivered in the evening does nothing. It first claims the day's row in execucoes_periodicas:
    a second delivery or a second tick the same day finds it taken and does nothing; a retry or
    redelivery of the claiming job carries on (send_once skips the contacts already done)."""
    settings = get_settings()
    zone = ZoneInfo(settings.schedule_timezone)
    now = utcnow().astimezone(zone)
    day = _scheduled_day(zone) or now.date()
    referencia = day.isoformat()
    if day != now.date():
        return _follow_up_not_run(referencia, f"agendado para {referencia}, hoje é {now.date().isoformat()}")
    if now.time() >= settings.follow_up_catch_up_until:
        until = settings.follow_up_catch_up_until.strftime("%H:%M")
        return _follow_up_not_run(referencia, f"passou do horário limite ({until} {settings.schedule_timezone})")
    if not records.claim_daily_run(contracts.FOLLOW_UP.name, day, current_job_id()):
        return _follow_up_not_run(referencia, "já executado hoje", logging.INFO)
    day_start = datetime.combine(day, time.min, tzinfo=zone)
    candidates = records.follow_up_candidates(day_start, referencia, settings.follow_up_max)
    outcomes: Counter[str] = Counter()
    gateway = gateway_from_settings(settings)
    try:
        for done, (contact, text) in enumerate(candidates, start=1):
            stop_if_cancelled()
            outcomes[send_once(gateway, contact, text, MessageKind.FOLLOW_UP, referencia)] += 1
            report_progress(done, len(candidates))
    finally:
        gateway.close()
    records.finish_daily_run(contracts.FOLLOW_UP.name, day, current_job_id())
    return {"referencia": referencia, "contatos": len(candidates), **outcomes}


def _check_numbers(gateway: WhatsAppGateway, numbers: list[str]) -> list[NumberStatus]:
    try:
        return gateway.check_numbers(numbers)
    except GatewayTransientError as error:
        metrics.gateway_error(error)
        raise


def _scheduled_day(zone: ZoneInfo) -> date | None:
    """The local day the scheduler sent this message for; None for a message sent by hand."""
    message = CurrentMessage.get_current_message()
    scheduled_at = message.options.get("scheduled_at") if message is not None else None
    if not scheduled_at:
        return None
    try:
        when = datetime.fromisoformat(scheduled_at)
    except ValueError:
        logger.warning("follow-up %s: unreadable scheduled_at %r; taken as today", message.message_id, scheduled_at)
        return None
    return (when if when.tzinfo else when.replace(tzinfo=zone)).astimezone(zone).date()


def _follow_up_not_run(referencia: str, reason: str, level: int = logging.WARNING) -> dict[str, Any]:
    logger.log(level, "follow-up for %s not run: %s", referencia, reason)
    return {"referencia": referencia, "ignorado": True, "motivo": reason}


@contextmanager
def _gateway_errors_are_permanent() -> Iterator[None]:
    """A gateway that refuses the operation itself (bad key, unknown instance) will refuse it again."""
    try:
        yield
    except GatewayPermanentError as error:
        raise PermanentJobError(f"gateway recusou a operação: {error}") from error
