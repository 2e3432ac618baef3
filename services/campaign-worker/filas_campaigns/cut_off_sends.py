"""Sends a dead delivery cut off: rows left 'enviando', whose message may or may not have left.

Where the gateway can look a message up (Evolution: the chat's messages), each is settled by what the
gateway says: sent (recorded with its id) or not (released, sent again). Where it cannot (Cloud API), the
status webhook settles it (it echoes our message id, filas_api's whatsapp events); one that no webhook
settled within FILAS_CAMPAIGN_UNKNOWN_SEND_WAIT_SECONDS is taken as never sent and released."""

import logging
from dataclasses import dataclass
from datetime import timedelta

from filas.clock import utcnow
from filas.db.models import Campaign
from filas.phones import mask
from filas_campaigns.gateways import WhatsAppGateway
from filas_campaigns.outgoing import outgoing_message
from filas_campaigns.send_records import ClaimedSend, Settlement

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resolution:
    settlement: Settlement
    waiting: int  # still unsettled: a status webhook may come
    retry_in_seconds: float  # when the first of those may be released


def resolve(gateway: WhatsAppGateway, campaign: Campaign, cut_off: list[ClaimedSend],
            wait_seconds: int) -> Resolution:
    settlement = Settlement()
    if gateway.looks_up_sends:
        for claimed in cut_off:
            _look_up(gateway, campaign, claimed, settlement)
        return Resolution(settlement, waiting=0, retry_in_seconds=0)
    now = utcnow()
    left_to_wait = [timedelta(seconds=wait_seconds) - (now - claimed.claimed_at) for claimed in cut_off]
    for claimed, left in zip(cut_off, left_to_wait, strict=True):
        if left <= timedelta(0):
            settlement.released.append(claimed.message_id)
    waiting = [left.total_seconds() for left in left_to_wait if left > timedelta(0)]
    return Resolution(settlement, waiting=len(waiting), retry_in_seconds=min(waiting, default=0))


def _look_up(gateway: WhatsAppGateway, campaign: Campaign, claimed: ClaimedSend, settlement: Settlement) -> None:
    contact = claimed.contact
    message = outgoing_message(campaign, contact, campaign.mensagem, reference=str(claimed.message_id))
    found = gateway.find_sent(contact.whatsapp_id or contact.telefone, message, since=claimed.claimed_at)
    if found is None:
        settlement.released.append(claimed.message_id)
        logger.info("cut-off send %s to %s had not left: sent again", claimed.message_id, mask(contact.telefone))
    else:
        settlement.sent.append((claimed.message_id, found.gateway_message_id, found.whatsapp_id, contact.id))
        logger.info("cut-off send %s to %s had left: recorded", claimed.message_id, mask(contact.telefone))
