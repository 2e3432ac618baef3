"""The module periodiq loads (`periodiq filas_scheduler.periodic`): registers the schedules on the broker."""

from filas.broker import setup_broker
from filas.logs import configure_logging
from filas.settings import get_settings
from filas_scheduler.schedules import register

configure_logging(get_settings().log_level)
periodic_actors = register(setup_broker())
