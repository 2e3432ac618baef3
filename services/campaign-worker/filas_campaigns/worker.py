"""Entry module of the campaign worker: `dramatiq filas_campaigns.worker --processes 1 --threads 4`."""

from filas.worker_metrics import prepare_worker_process

prepare_worker_process()  # first: the modules below create metrics when imported

from filas import contracts  # noqa: E402
from filas.broker import add_worker_metrics, setup_broker  # noqa: E402
from filas.logs import configure_logging  # noqa: E402
from filas.settings import get_settings  # noqa: E402
from filas_campaigns import actors, follow_up, maintenance  # noqa: E402

configure_logging(get_settings().log_level)
broker = setup_broker()
add_worker_metrics(broker)
validate_numbers_actor = contracts.VALIDATE_NUMBERS.bind(actors.validate_numbers)
send_campaign_actor = contracts.SEND_CAMPAIGN.bind(actors.send_campaign)
follow_up_actor = contracts.FOLLOW_UP.bind(follow_up.follow_up)
cleanup_actor = contracts.CLEANUP.bind(maintenance.cleanup)
