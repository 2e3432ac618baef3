"""`filas-scheduler`: periodiq, in the schedule time zone (America/Fortaleza by default).

periodiq reads the clock in the process's local time zone (pendulum's, from TZ), with no
per-schedule zone: so the zone is set here, before anything reads the clock, rather than left
to whoever writes the container's environment."""

import os
import sys
import time

from filas.broker import get_redis
from filas.logs import configure_logging
from filas.settings import get_settings
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
    become_leader(get_redis(), settings.scheduler_lock_ttl_seconds)

    sys.argv = ["periodiq", "filas_scheduler.periodic", *sys.argv[1:]]
    periodiq.entrypoint()


if __name__ == "__main__":
    main()
