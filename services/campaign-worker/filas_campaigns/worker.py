"""Entry module of the campaign worker: `dramatiq filas_campaigns.worker --processes 1 --threads 4`."""

from filas import contracts
from filas.broker import add_worker_metrics, setup_broker
from filas.logs import configure_logging
from filas.settings import get_settings
from filas_campaigns import actors, maintenance

configure_logging(get_settings().log_level)
broker = setup_broker()
add_worker_metrics(broker)
validate_numbers_actor = contracts.VALIDATE_NUMBERS.bind(actors.validate_numbers)
send_campaign_actor = contracts.SEND_CAMPAIGN.bind(actors.send_campaign)
follow_up_actor = contracts.FOLLOW_UP.bind(actors.follow_up)
cleanup_actor = contracts.CLEANUP.bind(maintenance.cleanup)
