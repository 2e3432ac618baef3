"""The 6-hourly clean-up deletes failed attempts' evidence past FILAS_PORTAL_EVIDENCE_RETENTION_DAYS, on the
real PostgreSQL, and keeps the rest."""

from datetime import timedelta

from rows import accepted_booking
from sqlalchemy import select

from filas.clock import utcnow
from filas.db.models import BookingEvidence
from filas.db.session import session_scope
from filas_campaigns.maintenance import cleanup


def add_evidence(booking_id: int, age: timedelta) -> int:
    with session_scope() as session:
        row = BookingEvidence(booking_id=booking_id, tentativa=1, erro="falha", html="<p>x</p>",
                              html_bytes=8, criado_em=utcnow() - age)
        session.add(row)
        session.flush()
        return row.id


def test_clean_up_deletes_evidence_older_than_the_retention(configure, database_url):
    configure(FILAS_DATABASE_URL=database_url, FILAS_PORTAL_EVIDENCE_RETENTION_DAYS="7")
    booking_id, _ = accepted_booking("L-RETENCAO")
    add_evidence(booking_id, timedelta(days=7, minutes=1))
    recent = add_evidence(booking_id, timedelta(days=6, hours=23))

    result = cleanup()

    assert result["portal_evidencias_apagadas"] == 1
    with session_scope() as session:
        assert session.scalars(select(BookingEvidence.id)).all() == [recent]
