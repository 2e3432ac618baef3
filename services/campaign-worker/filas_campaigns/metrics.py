"""The campaign worker's domain metrics (prometheus-client, multiprocess mode: served with the worker's
job metrics on its metrics port).

- filas_campaign_messages_total{outcome}: every message the worker tried to send (campaign or
  follow-up), by outcome (OUTCOMES). A contact an earlier delivery already handled is not counted again.
- filas_campaign_rate_limit_waits_total: times the gateway asked us to slow down (HTTP 429 or a
  Retry-After header), on a send or on a number check.
"""

from prometheus_client import Counter

from filas_campaigns.gateways import GatewayTransientError

SENT = "sent"
INVALID_NUMBER = "invalid_number"  # the gateway refused the recipient (no WhatsApp, invalid number)
OPTED_OUT = "opted_out"
FAILED = "failed"  # the gateway failed before the message left; the job's retry sends it
OUTCOME_UNKNOWN = "outcome_unknown"  # the gateway failed after the message may have left; never resent
OUTCOMES = (SENT, INVALID_NUMBER, OPTED_OUT, FAILED, OUTCOME_UNKNOWN)

MESSAGES = Counter("filas_campaign_messages_total", "WhatsApp messages by outcome", ["outcome"])
RATE_LIMIT_WAITS = Counter(
    "filas_campaign_rate_limit_waits_total", "Gateway answers asking to slow down (HTTP 429 or Retry-After)"
)

for _outcome in OUTCOMES:  # every outcome exported from the start: rate() sees its first increment
    MESSAGES.labels(_outcome)


def message_outcome(outcome: str, count: int = 1) -> None:
    MESSAGES.labels(outcome).inc(count)


def gateway_error(error: GatewayTransientError) -> None:
    if error.status_code == 429 or error.retry_after is not None:
        RATE_LIMIT_WAITS.inc()
