"""The portal worker's actor: book one integration's slot on the supplier portal.

The worker's RowLifecycleMiddleware has claimed the integration's row before this runs (no other
delivery of this booking can run meanwhile) and records how the job ended when it returns or raises.
"""

import logging
from typing import Any

from playwright.sync_api import Browser

from filas.db.models import Booking
from filas.runtime import attempt_number, current_job_id, enter_point_of_no_return, stop_if_cancelled
from filas.settings import get_settings
from filas_portal import metrics, records
from filas_portal.browser_pool import browser_for_booking
from filas_portal.evidence import EvidenceRecorder
from filas_portal.portal_client import (
    AtacadaoPortal,
    BookingRequest,
    PortalPermanentError,
    PortalTransientError,
)

logger = logging.getLogger(__name__)


def schedule_booking(booking_id: int) -> dict[str, Any]:
    with metrics.booking_attempt():
        return _book(booking_id)


def _book(booking_id: int) -> dict[str, Any]:
    job_id = current_job_id()
    booking = records.load_booking(booking_id)
    # Safe points: before the browser opens, and before the form is submitted (_before_submit). Once the
    # form is sent, a booking runs to its end.
    stop_if_cancelled()
    saved_session = records.load_portal_session()
    with browser_for_booking() as browser:
        portal = _portal_client(browser, booking.id, job_id, saved_session.storage_state)
        try:
            with metrics.timed_on_portal():
                result = portal.book(_booking_request(booking))
        except PortalPermanentError as error:
            records.add_log(booking.id, job_id, "erro", str(error), level="erro")
            raise
        except PortalTransientError as error:
            records.add_log(booking.id, job_id, "erro", str(error), level="aviso")
            raise
        finally:
            records.keep_portal_session(saved_session, portal.storage_state())
    records.mark_booked(booking.id, job_id, result.protocolo)
    metrics.booking_done(result)
    return {"protocolo": result.protocolo, "ja_existia": result.already_existed}


def _before_submit(booking_id: int) -> None:
    """The last safe point, then the point of no return. No two deliveries of one booking reach the
    portal's submit: this one must still hold the row, and its lease now covers the submit and the
    reading of the protocol."""
    stop_if_cancelled()
    settings = get_settings()
    enter_point_of_no_return(seconds=3 * settings.portal_timeout_ms / 1000 + settings.job_lease_seconds)
    records.mark_submitted(booking_id)


def _on_step(booking_id: int, job_id: str, step: str, message: str, evidence: EvidenceRecorder) -> None:
    evidence.step(step)
    metrics.observe_step(step)
    records.add_log(booking_id, job_id, step, message)


def _portal_client(
    browser: Browser, booking_id: int, job_id: str, storage_state: dict[str, Any] | None
) -> AtacadaoPortal:
    settings = get_settings()
    password = settings.portal_password.get_secret_value()
    evidence = EvidenceRecorder(booking_id, job_id, attempt_number(), secrets=(password,))
    return AtacadaoPortal(
        browser,
        base_url=settings.portal_url,
        username=settings.portal_username,
        password=password,
        storage_state=storage_state,
        on_step=lambda step, message: _on_step(booking_id, job_id, step, message, evidence),
        timeout_ms=settings.portal_timeout_ms,
        before_submit=lambda: _before_submit(booking_id),
        on_failure=evidence,
        blocked_urls=tuple(settings.portal_blocked_urls.split()),
    )


def _booking_request(booking: Booking) -> BookingRequest:
    return BookingRequest(
        lote_id=booking.lote_id,
        data=booking.data_agendamento,
        hora=booking.hora_agendamento,
        transportadora=booking.transportadora,
        tipo_veiculo=booking.tipo_veiculo,
        search_first=booking.submetido_em is not None,  # set just before any attempt's submit
    )
