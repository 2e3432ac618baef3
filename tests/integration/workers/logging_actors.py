"""Worker module of tests/integration/test_structured_logs.py, set up as the services' entry modules are:
`dramatiq logging_actors --path tests/integration/workers`."""

import logging

import dramatiq

from filas.broker import setup_broker
from filas.logs import configure_logging
from filas.settings import get_settings

configure_logging(get_settings().log_level)
setup_broker()
logger = logging.getLogger("filas.test.logging_actors")
logger.info("logging actors loaded")


@dramatiq.actor(actor_name="test.log_something", queue_name="logs-test", max_retries=0)
def log_something(text: str) -> None:
    logger.info("working on %s", text)
