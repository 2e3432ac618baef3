"""Portal bookings: the RQ system's contract (`success` responses)."""

from flask import Blueprint, jsonify
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from filas import contracts, lifecycle
from filas.db.models import LOAD_BLOCKING_STATUSES, Booking, BookingStatus
from filas.db.session import session_scope
from filas.enqueue import send
from filas.errors import InfrastructureUnavailable
from filas_api import evidence, idempotency
from filas_api.envelope import PORTAL_BLUEPRINT, ok
from filas_api.errors import ApiError
from filas_api.job_views import booking_job_view
from filas_api.links import absolute_url
from filas_api.queue_views import queue_overview
from filas_api.schemas import BookingRequest
from filas_api.validation import parse_body

bp = Blueprint(PORTAL_BLUEPRINT, __name__, url_prefix="/portal/api")


@bp.post("/solicitar-agendamento-async")
def request_booking():
    body = parse_body(BookingRequest)
    key = idempotency.requested_key()
    try:
        booking, message = _create_booking(body, key)
    except idempotency.AlreadyAccepted as earlier:
        return _replayed(earlier)
    return _accepted(booking, message, "Agendamento enfileirado")


@bp.post("/solicitar-agendamento")
def request_booking_legacy():
    """The old synchronous endpoint: it no longer holds a web worker while a browser books."""
    body = parse_body(BookingRequest)
    booking, message = _create_booking(body)
    return _accepted(booking, message, "Agendamento enfileirado; acompanhe pelo status_url")


@bp.get("/status-job/<message_id:job_id>")
def job_status(job_id: str):
    view = booking_job_view(job_id)
    if view is None:
        raise ApiError(404, f"job {job_id} não encontrado")
    return jsonify(ok(**view))


@bp.post("/reprocessar-integracao/<db_id:integracao_id>")
def reprocess(integracao_id: int):
    with session_scope() as session:
        booking = session.get(Booking, integracao_id, with_for_update=True)
        if booking is None:
            raise ApiError(404, f"integração {integracao_id} não encontrada")
        _refuse_if_not_reprocessable(booking)
        booking.status = BookingStatus.PENDING
        booking.mensagem = None
        booking.protocolo = None
        booking.submetido_em = None
        message = contracts.SCHEDULE_BOOKING.message(integracao_id=booking.id)
        lifecycle.queue(booking, message.message_id)
        _commit_or_conflict(session, booking)
    return _accepted(booking, message, "Integração reenfileirada")


@bp.get("/status-filas")
def queues():
    return jsonify(ok(filas=queue_overview()))


@bp.get("/integracoes/<db_id:integracao_id>/evidencias")
def evidence_list(integracao_id: int):
    listed = evidence.evidence_list(integracao_id)
    if listed is None:
        raise ApiError(404, f"integração {integracao_id} não encontrada")
    for item in listed:
        item["screenshot_url"] = absolute_url("portal.evidence_screenshot", evidencia_id=item["id"])
        item["html_url"] = absolute_url("portal.evidence_html", evidencia_id=item["id"])
    return jsonify(ok(integracao_id=integracao_id, evidencias=listed))


@bp.get("/evidencias/<db_id:evidencia_id>/screenshot")
def evidence_screenshot(evidencia_id: int):
    return evidence.screenshot_response(evidencia_id) or _no_evidence(evidencia_id, "captura de tela")


@bp.get("/evidencias/<db_id:evidencia_id>/html")
def evidence_html(evidencia_id: int):
    return evidence.html_response(evidencia_id) or _no_evidence(evidencia_id, "HTML")


def _no_evidence(evidence_id: int, what: str):
    raise ApiError(404, f"evidência {evidence_id} não encontrada ou sem {what}")


def _create_booking(body: BookingRequest, idempotency_key: str | None = None):
    with session_scope() as session:
        key = idempotency.claim(session, idempotency_key, body) if idempotency_key else None
        _refuse_if_load_is_taken(session, body.lote_id)
        booking = Booking(**body.model_dump(), status=BookingStatus.PENDING)
        session.add(booking)
        try:
            session.flush()
        except IntegrityError:
            # Another request for this load inserted between our check and our insert (the partial unique
            # index waited for it to commit): the same 409 as the check, with the winner's ids.
            session.rollback()
            _refuse_if_load_is_taken(session, body.lote_id)
            raise ApiError(409, f"o lote {body.lote_id} já tem um agendamento ativo ou concluído") from None
        message = contracts.SCHEDULE_BOOKING.message(booking_id=booking.id)
        lifecycle.queue(booking, message.message_id)
        if key is not None:
            key.booking_id, key.job_id = booking.id, message.message_id
        _commit_or_conflict(session, booking)
    return booking, message


def _refuse_if_load_is_taken(session: Session, lote_id: str) -> None:
    existing = session.scalars(
        select(Booking).where(
            Booking.portal == "atacadao",
            Booking.lote_id == lote_id,
            Booking.status.in_(LOAD_BLOCKING_STATUSES),
        )
    ).first()
    if existing is not None:
        raise _load_taken(existing)


def _refuse_if_not_reprocessable(booking: Booking) -> None:
    if booking.status == BookingStatus.BOOKED:
        raise ApiError(409, f"integração já agendada (protocolo {booking.protocolo})", integracao_id=booking.id)
    if booking.status in LOAD_BLOCKING_STATUSES:
        raise ApiError(409, "integração já está na fila ou em execução", integracao_id=booking.id,
                       job_id=booking.job_id)


def _commit_or_conflict(session: Session, booking: Booking) -> None:
    """The partial unique index is the last word when two requests for one load race."""
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ApiError(409, f"o lote {booking.lote_id} já tem um agendamento ativo ou concluído") from None


def _load_taken(existing: Booking) -> ApiError:
    what = f"já agendado (protocolo {existing.protocolo})" if existing.protocolo else "já está na fila"
    return ApiError(
        409,
        f"o lote {existing.lote_id} {what}",
        integracao_id=existing.id,
        job_id=existing.job_id,
        status_url=absolute_url("portal.job_status", job_id=existing.job_id) if existing.job_id else None,
    )


def _accepted(booking: Booking, message, text: str):
    try:
        send(message)
    except InfrastructureUnavailable:
        # The row is committed with its job id: the reconciler enqueues it once Redis is back.
        text += " (fila momentaneamente indisponível: será enviado automaticamente)"
    body = ok(
        message=text,
        integracao_id=booking.id,
        job_id=message.message_id,
        status_url=absolute_url("portal.job_status", job_id=message.message_id),
    )
    return jsonify(body), 202


def _replayed(earlier: idempotency.AlreadyAccepted):
    """The first request's ids again; its job is not sent again (the reconciler covers a lost send)."""
    body = ok(
        message=f"Agendamento já aceito com esta {idempotency.HEADER}",
        integracao_id=earlier.booking_id,
        job_id=earlier.job_id,
        status_url=absolute_url("portal.job_status", job_id=earlier.job_id),
    )
    return jsonify(body), 200, {"Idempotent-Replayed": "true"}
