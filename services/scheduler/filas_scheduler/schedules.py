"""The periodic jobs, declared by actor name only.

periodiq schedules actors registered on the broker. The scheduler registers, for each periodic
contract, an actor with the contract's name and queue whose body is never run here: periodiq
only *sends* it, and the worker that implements the contract runs it. So the scheduler imports no
worker code, and enqueues exactly what the contract declares.
"""

from dataclasses import dataclass

import dramatiq
from periodiq import PeriodiqMiddleware, cron

from filas import contracts
from filas.settings import get_settings


@dataclass(frozen=True)
class Schedule:
    contract: contracts.ActorContract
    cron: str


def schedules() -> list[Schedule]:
    settings = get_settings()
    return [
        Schedule(contracts.FOLLOW_UP, settings.follow_up_cron),
        Schedule(contracts.CLEANUP, settings.cleanup_cron),
        Schedule(contracts.RECONCILE, settings.reconcile_cron),
    ]


def _runs_elsewhere(*args, **kwargs):
    raise RuntimeError("scheduled actors run in their worker, not in the scheduler")


def register(broker: dramatiq.Broker) -> list[dramatiq.Actor]:
    broker.add_middleware(PeriodiqMiddleware(skip_delay=60))
    return [
        dramatiq.actor(
            _runs_elsewhere,
            actor_name=schedule.contract.name,
            queue_name=schedule.contract.queue,
            broker=broker,
            periodic=cron(schedule.cron),
        )
        for schedule in schedules()
    ]

