"""The daily follow-up actor: once per local day, a follow-up to contacts who have not answered."""

import logging
from collections import Counter
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from dramatiq.middleware import CurrentMessage

from filas import contracts
from filas.clock import utcnow
from filas.db.models import MessageKind
from filas.runtime import current_job_id, report_progress, stop_if_cancelled
from filas.settings import get_settings
from filas_campaigns import follow_up_records
from filas_campaigns.gateways import gateway_from_settings
from filas_campaigns.outgoing import outgoing_message
from filas_campaigns.sending import send_once

logger = logging.getLogger(__name__)


def follow_up() -> dict[str, Any]:
    """Follow up, once per local day, with the contacts due one as their campaign configures it
    (follow_up_records.follow_up_candidates), in the campaign's words filled with the contact's fields.

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
    if not follow_up_records.claim_daily_run(contracts.FOLLOW_UP.name, day, current_job_id()):
        return _follow_up_not_run(referencia, "já executado hoje", logging.INFO)
    day_start = datetime.combine(day, time.min, tzinfo=zone)
    candidates = follow_up_records.follow_up_candidates(day_start, referencia, settings.follow_up_max,
                                                        settings.follow_up_after_days)
    outcomes: Counter[str] = Counter()
    gateway = gateway_from_settings(settings)
    try:
        for done, (contact, campaign) in enumerate(candidates, start=1):
            stop_if_cancelled()
            message = outgoing_message(campaign, contact, campaign.mensagem_follow_up)
            outcomes[send_once(gateway, contact, message, MessageKind.FOLLOW_UP, referencia)] += 1
            report_progress(done, len(candidates))
    finally:
        gateway.close()
    follow_up_records.finish_daily_run(contracts.FOLLOW_UP.name, day, current_job_id())
    return {"referencia": referencia, "contatos": len(candidates), **outcomes}


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
