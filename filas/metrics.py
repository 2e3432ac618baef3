"""Prometheus collectors shared by the services."""

import logging

from prometheus_client.core import GaugeMetricFamily

from filas import contracts
from filas.broker import get_redis
from filas.queue_depth import queue_depths

logger = logging.getLogger(__name__)


class QueueDepthCollector:
    """filas_queue_messages{queue, state}: ready, delayed, dead and in-flight messages, read at scrape time."""

    def collect(self):
        gauge = GaugeMetricFamily("filas_queue_messages", "Messages in each Dramatiq queue by state",
                                  labels=["queue", "state"])
        up = GaugeMetricFamily("filas_redis_up", "1 if Redis answered the last scrape")
        try:
            depths = queue_depths(get_redis(), contracts.QUEUES)
        except Exception:
            logger.warning("could not read queue depths from Redis", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        for queue, states in depths.items():
            for state, count in states.items():
                gauge.add_metric([queue, state], count)
        up.add_metric([], 1)
        yield gauge
        yield up
