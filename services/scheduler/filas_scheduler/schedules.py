"""The periodic jobs, declared by actor name only.

periodiq schedules actors registered on the broker. The scheduler registers, for each periodic
contract, an actor with the contract's name and queue whose body is never run here: periodiq
only *sends* it, and the worker that implements the contract runs it. So the scheduler imports no
worker code, and enqueues exactly what the contract declares.

The daily follow-up is not a plain cron: a missed 09:00 must still run once the same morning
(filas_scheduler.daily). periodiq wakes its DailyJob every minute, and the DailyJob decides.
"""

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import dramatiq
from periodiq import PeriodiqMiddleware, cron

from filas import contracts
from filas.reconcile import reconcile
from filas.settings import get_settings
from filas_scheduler.daily import DailyJob, DailySchedule
from filas_scheduler.leader_tasks import LeaderTask
from filas_scheduler.metrics import RecordCronSends


@dataclass(frozen=True)
class Schedule:
    contract: contracts.ActorContract
    cron: str


def schedules() -> list[Schedule]:
    settings = get_settings()
    return [
        Schedule(contracts.CLEANUP, settings.cleanup_cron),
    ]


def daily_schedules() -> list[DailySchedule]:
    settings = get_settings()
    return [DailySchedule(contracts.FOLLOW_UP, settings.follow_up_cron, settings.follow_up_catch_up_until)]


def _runs_elsewhere(*args, **kwargs):
    raise RuntimeError("scheduled actors run in their worker, not in the scheduler")


def register(broker: dramatiq.Broker) -> list[Any]:
    """The entries periodiq's Scheduler wakes: an actor per cron schedule, a DailyJob per daily one.

    The middleware only makes `periodic` a valid actor option here: its skip of old messages acts in a
    process that consumes them, and the workers do not use it (a message that waited in the queue while
    the workers were down must still run; the follow-up checks its own day and cut-off)."""
    broker.add_middleware(PeriodiqMiddleware(skip_delay=60))
    broker.add_middleware(RecordCronSends(schedule.contract.name for schedule in schedules()))
    zone = ZoneInfo(get_settings().schedule_timezone)
    actors: list[Any] = [
        dramatiq.actor(
            _runs_elsewhere,
            actor_name=schedule.contract.name,
            queue_name=schedule.contract.queue,
            broker=broker,
            periodic=cron(schedule.cron),
        )
        for schedule in schedules()
    ]
    reconciler = LeaderTask("maintenance.reconcile", get_settings().reconcile_cron, reconcile)
    # First in the list: periodiq sends in order, so a later entry's message shows this one's tick is done.
    return [*(DailyJob(schedule, broker, zone) for schedule in daily_schedules()), *actors, reconciler]

