"""The portal worker's reads and writes of domain rows: integration status, step logs, saved session."""

import logging
from typing import Any

from filas.clock import utcnow
from filas.db.models import IntegracaoStatus, PortalIntegracao, PortalLog, PortalSession
from filas.db.session import session_scope

logger = logging.getLogger(__name__)

PORTAL = "atacadao"


def load_integration(integracao_id: int) -> PortalIntegracao | None:
    with session_scope() as session:
        return session.get(PortalIntegracao, integracao_id)


def mark_booked(integracao_id: int, protocolo: str) -> None:
    with session_scope() as session:
        integracao = session.get(PortalIntegracao, integracao_id, with_for_update=True)
        integracao.status = IntegracaoStatus.AGENDADO
        integracao.protocolo = protocolo
        integracao.mensagem = None


def mark_submitted(integracao_id: int) -> None:
    """The form is about to go to the portal: from now on a later delivery looks for this booking first."""
    with session_scope() as session:
        session.get(PortalIntegracao, integracao_id, with_for_update=True).submetido_em = utcnow()


def add_log(integracao_id: int, job_id: str, step: str, message: str, level: str = "info") -> None:
    """Committed at once, so that the front end sees each step while the booking runs."""
    with session_scope() as session:
        session.add(PortalLog(integracao_id=integracao_id, job_id=job_id, etapa=step, nivel=level, mensagem=message))
    logger.info("integracao %s [%s] %s", integracao_id, step, message)


def load_portal_session() -> dict[str, Any] | None:
    with session_scope() as session:
        saved = session.get(PortalSession, PORTAL)
        return saved.storage_state if saved else None


def save_portal_session(storage_state: dict[str, Any]) -> None:
    with session_scope() as session:
        saved = session.get(PortalSession, PORTAL, with_for_update=True)
        if saved is None:
            session.add(PortalSession(portal=PORTAL, storage_state=storage_state))
        else:
            saved.storage_state = storage_state
