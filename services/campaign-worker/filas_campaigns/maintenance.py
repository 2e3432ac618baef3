"""Housekeeping actors: the 6-hourly clean-up."""

from datetime import timedelta
from typing import Any

from sqlalchemy import delete

from filas.clock import utcnow
from filas.db.models import PortalLog
from filas.db.session import session_scope
from filas.settings import get_settings


def cleanup() -> dict[str, Any]:
    cutoff = utcnow() - timedelta(days=get_settings().log_retention_days)
    with session_scope() as session:
        deleted = session.execute(delete(PortalLog).where(PortalLog.criado_em < cutoff)).rowcount
    return {"portal_logs_apagados": deleted}
