"""Failed attempts' evidence in PostgreSQL, where every replica and the API read it; the oldest beyond
FILAS_PORTAL_EVIDENCE_PER_INTEGRATION of an integration are deleted as a new one is saved."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from filas.db.models import BookingEvidence
from filas.db.session import session_scope
from filas.settings import get_settings

if TYPE_CHECKING:
    from filas_portal.evidence import Capture


def save(booking_id: int, job_id: str, attempt: int, step: str | None, error: str, capture: Capture) -> int:
    with session_scope() as session:
        evidence = BookingEvidence(
            booking_id=booking_id, job_id=job_id, tentativa=attempt, etapa=step, erro=error, url=capture.url,
            screenshot=capture.screenshot, html=capture.html, html_truncado=capture.html_truncated,
            screenshot_bytes=len(capture.screenshot or b""), html_bytes=len((capture.html or "").encode("utf-8")),
        )
        session.add(evidence)
        session.flush()
        kept = select(BookingEvidence.id).where(BookingEvidence.booking_id == booking_id).order_by(
            BookingEvidence.id.desc()).limit(get_settings().portal_evidence_per_integration)
        session.execute(delete(BookingEvidence).where(BookingEvidence.booking_id == booking_id,
                                                      BookingEvidence.id.not_in(kept.scalar_subquery())))
        return evidence.id
