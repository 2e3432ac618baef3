"""The portal worker's reads and writes of domain rows: integration status, step logs, saved session."""

import logging
import os
import socket
from typing import Any

from filas.clock import utcnow
from filas.db.models import Booking, BookingLog, BookingStatus
from filas.db.session import session_scope
from filas_portal import session_store

logger = logging.getLogger(__name__)

PORTAL = session_store.PORTAL


def load_booking(booking_id: int) -> Booking | None:
    with session_scope() as session:
        return session.get(Booking, booking_id)


def mark_booked(booking_id: int, job_id: str, protocolo: str) -> None:
    """The booking's protocol and its last step log, in one transaction."""
    message = f"protocolo {protocolo}"
    with session_scope() as session:
        booking = session.get(Booking, booking_id, with_for_update=True)
        booking.status = BookingStatus.BOOKED
        booking.protocolo = protocolo
        booking.mensagem = None
        session.add(BookingLog(booking_id=booking_id, job_id=job_id, etapa="concluido", nivel="info", mensagem=message))
    logger.info("integracao %s [concluido] %s", booking_id, message)


def mark_submitted(booking_id: int) -> None:
    """The form is about to go to the portal: from now on a later delivery looks for this booking first."""
    with session_scope() as session:
        session.get(Booking, booking_id, with_for_update=True).submetido_em = utcnow()


def add_log(booking_id: int, job_id: str, step: str, message: str, level: str = "info") -> None:
    """Committed at once, so that the front end sees each step while the booking runs."""
    with session_scope() as session:
        session.add(BookingLog(booking_id=booking_id, job_id=job_id, etapa=step, nivel=level, mensagem=message))
    logger.info("integracao %s [%s] %s", booking_id, step, message)


def load_portal_session() -> session_store.SavedSession:
    return session_store.load(PORTAL)


def keep_portal_session(loaded: session_store.SavedSession, storage_state: dict[str, Any]) -> None:
    """Save the session a booking ended with, unless it is unchanged or a newer one was saved meanwhile
    (a person's `filas-portal-session`, another replica's login): that one wins."""
    if storage_state == (loaded.storage_state or {"cookies": [], "origins": []}):
        return
    try:
        saved_by = f"worker {socket.gethostname()}:{os.getpid()}"
        session_store.save(storage_state, loaded.version, saved_by=saved_by, portal=PORTAL)
    except session_store.StaleSession as stale:
        logger.info("portal session kept at version %s: %s", stale.current.version, stale)
