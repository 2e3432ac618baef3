"""Entry module of the portal worker: `dramatiq filas_portal.worker --processes 1 --threads 2`."""

from filas import contracts
from filas.broker import add_worker_metrics, setup_broker
from filas.logs import configure_logging
from filas.settings import get_settings
from filas_portal.actors import schedule_booking

configure_logging(get_settings().log_level)
broker = setup_broker()
add_worker_metrics(broker)
schedule_booking_actor = contracts.SCHEDULE_BOOKING.bind(schedule_booking)
