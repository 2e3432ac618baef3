"""Periodic work the scheduler leader does itself instead of enqueuing it.

The reconciler re-enqueues work that no worker has: it must not wait in a worker's queue behind the
backlog it is there to repair, nor depend on one team's worker being up. So the leader runs it in its
own loop, one run at a time (the leader lock, and filas.reconcile's own lock across replicas); a tick
that comes while a run is still going is not queued up behind it.
"""

import logging
from collections.abc import Callable
from typing import Any

from periodiq import cron

from filas_scheduler import metrics

logger = logging.getLogger(__name__)


class LeaderTask:
    """A periodic entry for periodiq's Scheduler (actor-like: options["periodic"], send_with_options)
    whose work runs here, in the leader, when periodiq wakes it."""

    def __init__(self, name: str, cron_expression: str, run: Callable[[], Any]):
        self.cron_expression = cron_expression
        self.actor_name = name
        self.queue_name = "scheduler"
        self.options = {"periodic": cron(cron_expression)}
        self.run = run

    def __str__(self) -> str:  # periodiq logs "Scheduling <this> at <time>" at every tick
        return f"{self.actor_name} (run by the scheduler)"

    def listing(self) -> str:
        """Its line under periodiq's "Registered periodic actors"."""
        return f"{self.cron_expression:<24} {self.actor_name}, run by the scheduler leader itself"

    def send_with_options(self, **_options) -> None:
        """periodiq's tick. Never raises: an outage must not stop the other schedules."""
        try:
            outcome = self.run()
        except Exception:
            logger.exception("%s failed; trying again at its next tick", self.actor_name)
            return
        metrics.record_success(self.actor_name)
        logger.info("%s done: %s", self.actor_name, outcome)
