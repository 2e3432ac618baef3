"""Failed booking attempts' evidence (a screenshot and the page's HTML) as the API and the operations page
serve it. The HTML is the portal's page: it is only ever sent as an attachment of plain text, never rendered
in our origin (a page that runs the portal's markup here would be a stored XSS)."""

from typing import Any

from flask import Response
from sqlalchemy import select

from filas.db.models import Booking, BookingEvidence
from filas.db.session import session_scope

LISTED = 100
# Nothing in a served file may run, embed or be sniffed into HTML, whatever a browser makes of it.
SAFE_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox; default-src 'none'",
                "Cache-Control": "private, no-store"}


def evidence_list(booking_id: int) -> list[dict[str, Any]] | None:
    """The integration's evidence, newest first, without the files; None for an unknown integration."""
    with session_scope() as session:
        if session.get(Booking, booking_id) is None:
            return None
        rows = session.execute(
            select(BookingEvidence.id, BookingEvidence.criado_em, BookingEvidence.job_id, BookingEvidence.tentativa,
                   BookingEvidence.etapa, BookingEvidence.erro, BookingEvidence.url, BookingEvidence.html_truncado,
                   BookingEvidence.screenshot_bytes, BookingEvidence.html_bytes)
            .where(BookingEvidence.booking_id == booking_id)
            .order_by(BookingEvidence.id.desc()).limit(LISTED)).all()
        return [_metadata(row) for row in rows]


def _metadata(row: Any) -> dict[str, Any]:
    return {"id": row.id, "criado_em": row.criado_em.isoformat(), "job_id": row.job_id, "tentativa": row.tentativa,
            "etapa": row.etapa, "erro": row.erro, "url": row.url, "screenshot_bytes": row.screenshot_bytes,
            "html_bytes": row.html_bytes, "html_truncado": row.html_truncado}


def screenshot_response(evidence_id: int) -> Response | None:
    with session_scope() as session:
        image = session.scalar(select(BookingEvidence.screenshot).where(BookingEvidence.id == evidence_id))
    if image is None:
        return None
    return Response(image, mimetype="image/jpeg", headers=SAFE_HEADERS)


def html_response(evidence_id: int) -> Response | None:
    with session_scope() as session:
        html = session.scalar(select(BookingEvidence.html).where(BookingEvidence.id == evidence_id))
    if html is None:
        return None
    disposition = f'attachment; filename="evidencia-{evidence_id}.html.txt"'
    return Response(html, mimetype="text/plain", headers={**SAFE_HEADERS, "Content-Disposition": disposition})
