"""Entry module of the portal worker: `dramatiq filas_portal.worker --processes 1 --threads 2`."""

import os
from dataclasses import replace

from filas.worker_metrics import prepare_worker_process

prepare_worker_process()  # first: the modules below create metrics when imported

from filas import contracts  # noqa: E402
from filas.broker import add_worker_metrics, setup_broker  # noqa: E402
from filas.logs import configure_logging  # noqa: E402
from filas.settings import get_settings  # noqa: E402
from filas_portal.actors import schedule_booking  # noqa: E402

configure_logging(get_settings().log_level)
# Read by Playwright when it starts each thread's driver; set here, while the process has one thread.
if get_settings().portal_driver_node_options:
    os.environ.setdefault("NODE_OPTIONS", get_settings().portal_driver_node_options)
broker = setup_broker()
add_worker_metrics(broker)
booking_contract = replace(contracts.SCHEDULE_BOOKING, time_limit_ms=get_settings().portal_time_limit_seconds * 1000)
schedule_booking_actor = booking_contract.bind(schedule_booking)
