"""`filas-scheduler`: periodiq, in the schedule time zone (America/Fortaleza by default).

periodiq reads the clock in the process's local time zone (pendulum's, from TZ), with no
per-schedule zone: so the zone is set here, before anything reads the clock, rather than left
to whoever writes the container's environment.

The loop is periodiq's Scheduler, run here rather than through `periodiq.entrypoint()`, because
its entries include DailyJobs (filas_scheduler.daily), which are not broker actors: it wakes at
once when this process takes the lead, then at every minute."""

import logging
import os
import time

from filas.broker import get_redis
from filas.logs import configure_logging
from filas.settings import get_settings
from filas_scheduler import liveness, metrics
from filas_scheduler.leader import become_leader


def use_schedule_timezone() -> str:
    zone = get_settings().schedule_timezone
    os.environ["TZ"] = zone
    time.tzset()
    return zone


def main() -> None:
    use_schedule_timezone()
    import periodiq  # after TZ: pendulum caches the local zone on first use

    settings = get_settings()
    configure_logging(settings.log_level)
    metrics.serve()  # a standby says so too (filas_scheduler_leader 0)
    become_leader(get_redis(), settings.scheduler_lock_ttl_seconds, on_attempt=liveness.beat)
    metrics.leader.set(1)

    from filas_scheduler.periodic import periodic_actors

    periodiq.print_periodic_actors([entry for entry in periodic_actors if not hasattr(entry, "listing")])
    for entry in periodic_actors:
        if hasattr(entry, "listing"):  # DailyJob, LeaderTask: not broker actors
            logging.getLogger("periodiq").info("    %s", entry.listing())
    scheduler = _beating(periodiq.Scheduler)(actors=periodic_actors)
    now = time.time()
    if now % 60 > 55:  # as periodiq does: a start late in a minute waits for the next one
        time.sleep(60 - now % 60)
    scheduler.schedule()
    scheduler.loop()


def _beating(scheduler_class: type) -> type:
    """periodiq's Scheduler, beating the liveness each time it wakes (filas_scheduler.liveness)."""

    class BeatingScheduler(scheduler_class):
        def schedule(self):
            liveness.beat()
            return super().schedule()

    return BeatingScheduler


if __name__ == "__main__":
    main()
