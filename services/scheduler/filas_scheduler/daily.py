"""Daily jobs that must not be lost when the scheduler or the workers are down at their cron time.

periodiq keeps no state: a tick missed while the scheduler was down is never sent. So a daily job is
not a plain periodiq cron here. periodiq wakes a `DailyJob` every minute (and once when this process
takes the lead); it enqueues the job's message, by name, when

- the job's cron has fired today (local time, the schedule time zone) and it is not yet the catch-up
  cut-off (e.g. 09:00 ≤ now < 12:00), and
- today's run is not in the database yet (execucoes_periodicas, written by the worker that runs it), and
- the message it sent today is not still waiting (a Redis marker holds its job id; it is sent again
  only if that job failed or the marker is gone with a flushed Redis, which lost the message too).

So at 09:00 it sends the day's message; started at 10:30 after an outage, it sends it at once; at
19:00 it sends nothing. The worker enforces the rest: the day's row is claimed once (a second message
the same day does nothing), and a message is run only on its day and before the cut-off.

Workers do not use periodiq's PeriodiqMiddleware, whose skip_delay would drop a message that waited in
the queue while the workers were down: such a message still runs when they return the same morning.
"""

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import dramatiq
import pendulum
import redis
from periodiq import cron

from filas.broker import get_job_store, get_redis
from filas.contracts import ActorContract
from filas.db.models import PeriodicRun
from filas.db.session import session_scope
from filas.jobs import JobStatus
from filas_scheduler import metrics

logger = logging.getLogger(__name__)

MARKER_PREFIX = "filas:scheduler:daily:"
MARKER_TTL = timedelta(days=2)
EVERY_MINUTE = "* * * * *"


@dataclass(frozen=True)
class DailySchedule:
    contract: ActorContract
    cron: str
    catch_up_until: time

    def first_run(self, day: date, zone: ZoneInfo) -> datetime | None:
        """When the cron first fires on `day` (local), or None if it does not fire that day."""
        midnight = pendulum.datetime(day.year, day.month, day.day, tz=pendulum.timezone(zone.key))
        first = cron(self.cron).next_valid_date(midnight.subtract(minutes=1))
        return first if first.date() == day else None

    def due_day(self, now: datetime, zone: ZoneInfo) -> date | None:
        """The day whose run is due at `now`: today, from the cron's first time today until the cut-off."""
        local = now.astimezone(zone)
        first = self.first_run(local.date(), zone)
        if first is None or local < first or local.time() >= self.catch_up_until:
            return None
        return local.date()


class DailyJob:
    """A periodic entry for periodiq's Scheduler (actor-like: options["periodic"], send_with_options),
    woken every minute, that sends its contract's message when the day's run is due and missing."""

    def __init__(self, schedule: DailySchedule, broker: dramatiq.Broker, zone: ZoneInfo,
                 client: redis.Redis | None = None):
        self.schedule = schedule
        self.broker = broker
        self.zone = zone
        self.client = client or get_redis()
        self.actor_name = schedule.contract.name
        self.queue_name = schedule.contract.queue
        self.options = {"periodic": cron(EVERY_MINUTE)}

    def __str__(self) -> str:  # periodiq logs "Scheduling <this> at <time>" at every tick
        return f"daily check of {self.actor_name}"

    def listing(self) -> str:
        """Its line under periodiq's "Registered periodic actors"."""
        until = self.schedule.catch_up_until.strftime("%H:%M")
        return (f"{self.schedule.cron:<24} {self.actor_name}@{self.queue_name} once a day; "
                f"if missed at its time, sent late until {until}")

    def send_with_options(self, *, scheduled_at: str, **_options) -> None:
        """periodiq's tick. Never raises: a database or Redis outage must not stop the other schedules.
        A tick on a day the job is due that made sure of the day's run is the job's successful run."""
        try:
            now = pendulum.parse(scheduled_at)
            self.tick(now)
        except Exception:
            logger.exception("%s: could not check whether today's run is due; trying again next minute", self)
            return
        if self.schedule.due_day(now, self.zone) is not None:
            metrics.record_success(self.actor_name)

    def tick(self, now: datetime) -> dramatiq.Message | None:
        """Send the day's message if it is due and neither run nor waiting; return what was sent."""
        day = self.schedule.due_day(now, self.zone)
        if day is None:
            return None
        if self._has_run(day):
            logger.debug("%s: the run of %s is in the database", self, day)
            return None
        if self._is_waiting(day):
            logger.debug("%s: the message for %s is still waiting", self, day)
            return None
        local = now.astimezone(self.zone)
        message = self.schedule.contract.message().copy(options={"scheduled_at": local.isoformat()})
        self.broker.enqueue(message)
        self.client.set(self._marker(day), message.message_id, ex=MARKER_TTL)
        logger.info("enqueued %s for %s as job %s%s", self.actor_name, day, message.message_id,
                    "" if self._on_time(local) else " (catching up: it was missed at its time)")
        return message

    def _on_time(self, local: datetime) -> bool:
        first = self.schedule.first_run(local.date(), self.zone)
        return first is not None and local - first < timedelta(minutes=1)

    def _has_run(self, day: date) -> bool:
        with session_scope() as session:
            return session.get(PeriodicRun, (self.actor_name, day)) is not None

    def _is_waiting(self, day: date) -> bool:
        job_id = self.client.get(self._marker(day))
        if job_id is None:
            return False
        job = get_job_store().get(job_id.decode() if isinstance(job_id, bytes) else job_id)
        # Gone (it ended over an hour ago), queued, running, finished, cancelled: leave it. Failed: again.
        return job is None or job.status != JobStatus.FAILED

    def _marker(self, day: date) -> str:
        return f"{MARKER_PREFIX}{self.actor_name}:{day.isoformat()}"
