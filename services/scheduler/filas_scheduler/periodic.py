"""Registers the schedules on the broker; `periodic_actors` are the entries periodiq's Scheduler wakes
(filas_scheduler.main). Still loadable by `periodiq filas_scheduler.periodic`, which would run only the
plain cron schedules, not the daily ones."""

from filas.broker import setup_broker
from filas.logs import configure_logging
from filas.settings import get_settings
from filas_scheduler.schedules import register

configure_logging(get_settings().log_level)
periodic_actors = register(setup_broker())
