"""Housekeeping actors: the 6-hourly clean-up (portal step logs and failed attempts' evidence past retention,
and patients' contacts past retention: LGPD)."""

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import delete

from filas.clock import utcnow
from filas.db.models import BookingEvidence, BookingLog
from filas.db.session import session_scope
from filas.personal_data import delete_expired_contacts
from filas.settings import get_settings

logger = logging.getLogger(__name__)


def cleanup() -> dict[str, Any]:
    settings = get_settings()
    now = utcnow()
    log_cutoff = now - timedelta(days=settings.log_retention_days)
    evidence_cutoff = now - timedelta(days=settings.portal_evidence_retention_days)
    with session_scope() as session:
        logs = session.execute(delete(BookingLog).where(BookingLog.criado_em < log_cutoff)).rowcount
        evidence = session.execute(delete(BookingEvidence).where(BookingEvidence.criado_em < evidence_cutoff)).rowcount
    with session_scope() as session:  # its own transaction: it locks the campaigns it deletes from
        contacts = delete_expired_contacts(session, now - timedelta(days=settings.contact_retention_days))
    if contacts.contacts:
        logger.info("clean-up: %d contacts and %d messages past %d days deleted from %d campaigns",
                    contacts.contacts, contacts.messages, settings.contact_retention_days, contacts.campaigns)
    return {"portal_logs_apagados": logs, "portal_evidencias_apagadas": evidence,
            "contatos_apagados": contacts.contacts, "mensagens_apagadas": contacts.messages}
