"""Queue depth read straight from the Dramatiq Redis broker's keys (see notes/dramatiq-2.md).

Used by the API's queue overview and by the metrics exporters at scrape time."""

from collections.abc import Iterable

import redis

NAMESPACE = "dramatiq"


def queue_depths(client: redis.Redis, queues: Iterable[str]) -> dict[str, dict[str, int]]:
    queues = list(queues)
    with client.pipeline() as pipe:
        for queue in queues:
            pipe.llen(f"{NAMESPACE}:{queue}")
            pipe.zcard(f"{NAMESPACE}:{queue}.DQ")
            pipe.zcard(f"{NAMESPACE}:{queue}.XQ")
        counts = pipe.execute()
    in_flight = _in_flight(client, queues)
    return {
        queue: {
            "prontos": counts[3 * i],
            "atrasados": counts[3 * i + 1],
            "mortos": counts[3 * i + 2],
            "em_maos_de_workers": in_flight[queue],
        }
        for i, queue in enumerate(queues)
    }


def _in_flight(client: redis.Redis, queues: list[str]) -> dict[str, int]:
    """Messages taken by live workers (running or prefetched): the ack sets of every broker id."""
    totals = dict.fromkeys(queues, 0)
    for key in client.scan_iter(match=f"{NAMESPACE}:__acks__.*", count=500):
        queue = key.decode().rsplit(".", 1)[-1]
        if queue in totals:
            totals[queue] += client.scard(key)
    return totals
