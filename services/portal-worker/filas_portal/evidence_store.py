"""Failed attempts' evidence in PostgreSQL, where every replica and the API read it; the oldest beyond
FILAS_PORTAL_EVIDENCE_PER_INTEGRATION of an integration are deleted as a new one is saved."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from filas.db.models import PortalEvidencia
from filas.db.session import session_scope
from filas.settings import get_settings

if TYPE_CHECKING:
    from filas_portal.evidence import Capture


def save(integracao_id: int, job_id: str, attempt: int, step: str | None, error: str, capture: Capture) -> int:
    with session_scope() as session:
        evidence = PortalEvidencia(
            integracao_id=integracao_id, job_id=job_id, tentativa=attempt, etapa=step, erro=error, url=capture.url,
            screenshot=capture.screenshot, html=capture.html, html_truncado=capture.html_truncated,
            screenshot_bytes=len(capture.screenshot or b""), html_bytes=len((capture.html or "").encode("utf-8")),
        )
        session.add(evidence)
        session.flush()
        kept = select(PortalEvidencia.id).where(PortalEvidencia.integracao_id == integracao_id).order_by(
            PortalEvidencia.id.desc()).limit(get_settings().portal_evidence_per_integration)
        session.execute(delete(PortalEvidencia).where(PortalEvidencia.integracao_id == integracao_id,
                                                      PortalEvidencia.id.not_in(kept.scalar_subquery())))
        return evidence.id
