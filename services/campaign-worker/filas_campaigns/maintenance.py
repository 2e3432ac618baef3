"""Housekeeping actors: the 6-hourly clean-up (portal step logs and failed attempts' evidence past retention)."""

from datetime import timedelta
from typing import Any

from sqlalchemy import delete

from filas.clock import utcnow
from filas.db.models import BookingEvidence, BookingLog
from filas.db.session import session_scope
from filas.settings import get_settings


def cleanup() -> dict[str, Any]:
    settings = get_settings()
    now = utcnow()
    log_cutoff = now - timedelta(days=settings.log_retention_days)
    evidence_cutoff = now - timedelta(days=settings.portal_evidence_retention_days)
    with session_scope() as session:
        logs = session.execute(delete(BookingLog).where(BookingLog.criado_em < log_cutoff)).rowcount
        evidence = session.execute(delete(BookingEvidence).where(BookingEvidence.criado_em < evidence_cutoff)).rowcount
    return {"portal_logs_apagados": logs, "portal_evidencias_apagadas": evidence}
