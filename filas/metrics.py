"""Prometheus collectors shared by the services."""

import logging

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from filas import contracts
from filas.broker import get_redis
from filas.db.models import (
    Campaign,
    CampaignMessage,
    CampaignStatus,
    Contact,
    MessageKind,
    MessageStatus,
    WhatsappStatus,
)
from filas.db.session import session_scope
from filas.queue_depth import queue_depths

logger = logging.getLogger(__name__)

# The `state` label of filas_queue_messages, and the QueueDepth field each one reads.
STATES = ("ready", "delayed", "dead", "in_flight")


class QueueDepthCollector:
    """Read from Redis at scrape time, in one round trip (filas.queue_depth):

    - filas_queue_messages{queue, state}: ready, delayed, dead and in_flight messages;
    - filas_queue_oldest_message_age_seconds{queue}: age of the oldest ready message (0 when none is ready);
    - filas_redis_up: 1 when the read worked, 0 otherwise (and then no queue series at all).
    """

    def collect(self):
        up = GaugeMetricFamily("filas_redis_up", "1 if Redis answered the last scrape's queue-depth read")
        try:
            depths = queue_depths(get_redis(), contracts.QUEUES)
        except Exception:
            logger.warning("could not read queue depths from Redis", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        messages = GaugeMetricFamily("filas_queue_messages", "Messages in each Dramatiq queue by state",
                                     labels=["queue", "state"])
        oldest = GaugeMetricFamily("filas_queue_oldest_message_age_seconds",
                                   "Seconds since the oldest ready message of the queue was enqueued (0: none)",
                                   labels=["queue"])
        for queue, depth in depths.items():
            for state in STATES:
                messages.add_metric([queue, state], getattr(depth, state))
            oldest.add_metric([queue], depth.oldest_ready_age_seconds or 0.0)
        up.add_metric([], 1)
        yield messages
        yield oldest
        yield up


# Campaigns whose send has begun and not ended: few at a time, so their ids are a bounded label.
IN_PROGRESS = (CampaignStatus.SENDING, CampaignStatus.PAUSED)


class CampaignProgressCollector:
    """Read from PostgreSQL at scrape time, one query:

    - filas_campaign_contacts{campaign_id, state}: a campaign being sent (or paused): its valid contacts whose
      first message is done (sent, refused or skipped as opted out) and those remaining. A campaign's series
      go away when its send ends.
    """

    def collect(self):
        contacts = GaugeMetricFamily("filas_campaign_contacts", "Valid contacts of each campaign being sent, by "
                                     "whether their message is done", labels=["campaign_id", "state"])
        try:
            progress = _campaign_progress()
        except Exception:
            logger.warning("could not read campaign progress from the database", exc_info=True)
            return
        for campaign_id, done, total in progress:
            contacts.add_metric([str(campaign_id), "done"], done)
            contacts.add_metric([str(campaign_id), "remaining"], max(total - done, 0))
        yield contacts


def _campaign_progress() -> list[tuple[int, int, int]]:
    total = (select(func.count()).select_from(Contact)
             .where(Contact.campaign_id == Campaign.id, Contact.whatsapp_status == WhatsappStatus.VALID)
             .scalar_subquery())
    done = (select(func.count()).select_from(CampaignMessage)
            .where(CampaignMessage.campaign_id == Campaign.id, CampaignMessage.tipo == MessageKind.INITIAL,
                   CampaignMessage.referencia == "", CampaignMessage.status != MessageStatus.SENDING)
            .scalar_subquery())
    with session_scope() as session:
        return [tuple(row) for row in session.execute(
            select(Campaign.id, done, total).where(Campaign.status.in_(IN_PROGRESS)).order_by(Campaign.id)
        ).all()]
