"""Prometheus collectors shared by the services."""

import logging

from prometheus_client.core import GaugeMetricFamily

from filas import contracts
from filas.broker import get_redis
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
