"""The portal's saved session in PostgreSQL, where every worker replica reads it, saved compare-and-set.

A save names the version it started from (`SavedSession.version`, 0 when there was none); it is written
only if the row still has that version, and then takes the next one. So a worker ending a booking with
the session it loaded minutes ago never overwrites the session a person saved meanwhile, and of two
concurrent saves from one version, the first wins and the second is refused.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError

from filas.clock import utcnow
from filas.db.models import PortalSession
from filas.db.session import session_scope

PORTAL = "atacadao"
NO_VERSION = 0  # nothing saved yet


@dataclass(frozen=True)
class SavedSession:
    storage_state: dict[str, Any] | None
    version: int
    saved_at: datetime | None = None
    saved_by: str | None = None


class StaleSession(Exception):
    """The session changed since it was read: this save would overwrite a newer one."""

    def __init__(self, read_version: int, current: SavedSession):
        self.read_version = read_version
        self.current = current
        when = f"{current.saved_at:%Y-%m-%d %H:%M:%S} UTC" if current.saved_at else "an unknown time"
        super().__init__(
            f"session not saved: it was read at version {read_version}, but version {current.version} was saved "
            f"since (at {when} by {current.saved_by or 'unknown'}); a save never overwrites a newer session"
        )


def load(portal: str = PORTAL) -> SavedSession:
    with session_scope() as session:
        row = session.get(PortalSession, portal)
        if row is None:
            return SavedSession(None, NO_VERSION)
        return SavedSession(row.storage_state, row.versao, row.atualizado_em, row.salvo_por)


def save(storage_state: dict[str, Any], read_version: int, saved_by: str, portal: str = PORTAL) -> int:
    """Write the session if it is still at `read_version`; returns the new version. Raises StaleSession."""
    now = utcnow()
    with session_scope() as session:
        if read_version == NO_VERSION:
            try:
                with session.begin_nested():
                    session.execute(insert(PortalSession).values(
                        portal=portal, storage_state=storage_state, versao=1, salvo_por=saved_by, atualizado_em=now))
                return 1
            except IntegrityError:
                pass  # someone saved the first one: fall through to the refusal
        else:
            written = session.execute(
                update(PortalSession)
                .where(PortalSession.portal == portal, PortalSession.versao == read_version)
                .values(storage_state=storage_state, versao=read_version + 1, salvo_por=saved_by, atualizado_em=now)
            ).rowcount
            if written:
                return read_version + 1
    raise StaleSession(read_version, load(portal))
