"""The portal and campaign workers' domain metrics: what each observation counts."""

import pytest
from dramatiq.middleware import TimeLimitExceeded
from prometheus_client import REGISTRY

from filas.errors import JobCancelled, LeaseLost, WorkerStopping
from filas_campaigns import metrics as campaign_metrics
from filas_campaigns.gateways import GatewayTransientError
from filas_portal import metrics as portal_metrics
from filas_portal.portal_client import (
    BookingRejected,
    CaptchaRequired,
    LoginRejected,
    PortalPermanentError,
    PortalTransientError,
)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize(("error", "outcome"), [
    (BookingRejected("x"), "refused"),
    (CaptchaRequired("x"), "captcha"),
    (LoginRejected("x"), "login_refused"),
    (PortalPermanentError("x"), "failed"),
    (PortalTransientError("x"), "portal_unavailable"),
    (JobCancelled("x"), "cancelled"),
    (WorkerStopping("x"), "handed_back"),
    (LeaseLost("x"), "handed_back"),
    (TimeLimitExceeded(), "error"),
    (RuntimeError("x"), "error"),
])
def test_a_failed_booking_attempt_is_counted_by_its_outcome(error: BaseException, outcome: str) -> None:
    before = sample("filas_portal_bookings_total", outcome=outcome)

    with pytest.raises(type(error)), portal_metrics.booking_attempt():
        raise error

    assert outcome in portal_metrics.OUTCOMES
    assert sample("filas_portal_bookings_total", outcome=outcome) == before + 1


def test_every_outcome_is_exported_before_it_happens() -> None:
    for outcome in portal_metrics.OUTCOMES:
        assert REGISTRY.get_sample_value("filas_portal_bookings_total", {"outcome": outcome}) is not None
    for outcome in campaign_metrics.OUTCOMES:
        assert REGISTRY.get_sample_value("filas_campaign_messages_total", {"outcome": outcome}) is not None


def test_the_session_is_invalid_from_a_login_until_the_portal_lets_the_booking_in() -> None:
    portal_metrics.observe_step("login")
    assert sample("filas_portal_session_valid") == 0
    portal_metrics.observe_step("busca")
    assert sample("filas_portal_session_valid") == 0
    portal_metrics.observe_step("formulario")
    assert sample("filas_portal_session_valid") == 1


@pytest.mark.parametrize(("error", "waits"), [
    (GatewayTransientError("x", status_code=429), 1),
    (GatewayTransientError("x", status_code=503, retry_after=5.0), 1),
    (GatewayTransientError("x", status_code=503), 0),
    (GatewayTransientError("x"), 0),
])
def test_a_rate_limit_wait_is_a_429_or_a_retry_after(error: GatewayTransientError, waits: int) -> None:
    before = sample("filas_campaign_rate_limit_waits_total")

    campaign_metrics.gateway_error(error)

    assert sample("filas_campaign_rate_limit_waits_total") == before + waits
