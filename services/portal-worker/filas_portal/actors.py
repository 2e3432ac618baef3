"""The portal worker's actor: book one integration's slot on the supplier portal."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from redis.exceptions import LockError

from filas import contracts
from filas.broker import get_redis
from filas.db.models import IntegracaoStatus, PortalIntegracao
from filas.errors import JobCancelled
from filas.runtime import current_job_id, is_last_attempt, stop_if_cancelled
from filas.settings import get_settings
from filas_portal import records
from filas_portal.browser_pool import thread_browser
from filas_portal.portal_client import (
    AtacadaoPortal,
    BookingRequest,
    PortalPermanentError,
    PortalTransientError,
)

logger = logging.getLogger(__name__)


class LoadBusy(PortalTransientError):
    """Another worker is booking this load right now; try again later."""


def schedule_booking(integracao_id: int) -> dict[str, Any]:
    job_id = current_job_id()
    integracao = records.load_integration(integracao_id)
    if integracao is None:
        raise PortalPermanentError(f"integração {integracao_id} não existe")
    if integracao.job_id != job_id or integracao.status in (IntegracaoStatus.ERRO, IntegracaoStatus.CANCELADO):
        # A stale message: the row was reprocessed under a newer job, or it was closed meanwhile.
        logger.info("integracao %s: job %s is not its current job; nothing to do", integracao_id, job_id)
        return {"ignorado": True, "integracao_status": integracao.status}
    if integracao.status == IntegracaoStatus.AGENDADO:
        return {"protocolo": integracao.protocolo, "ja_existia": True}
    try:
        with _load_lock(integracao, job_id):
            _stop_if_cancelled(integracao.id, job_id)
            return _book(integracao, job_id)
    except PortalTransientError as error:
        records.add_log(integracao.id, job_id, "erro", str(error), level="aviso")
        if is_last_attempt(contracts.SCHEDULE_BOOKING):
            _fail(integracao.id, job_id, f"{error} (tentativas esgotadas)")
        raise


@contextmanager
def _load_lock(integracao: PortalIntegracao, job_id: str) -> Iterator[None]:
    """One booking attempt per load at a time, across every replica.

    The lock holds the job id: a redelivery of the same job (its worker died holding the lock)
    takes it over at once instead of waiting for it to expire."""
    lock = get_redis().lock(f"filas:lock:booking:{integracao.portal}:{integracao.lote_id}",
                            timeout=contracts.SCHEDULE_BOOKING.time_limit_ms / 1000 + 60, blocking=False)
    if not lock.acquire(token=job_id):
        lock.local.token = job_id.encode()
        try:
            lock.reacquire()
        except LockError:
            raise LoadBusy(f"o lote {integracao.lote_id} está sendo agendado por outro worker") from None
        logger.warning("integracao %s: taking over the lock of an earlier delivery of job %s", integracao.id, job_id)
    try:
        yield
    finally:
        with suppress(LockError):  # expired meanwhile: nothing left to release
            lock.release()


def _stop_if_cancelled(integracao_id: int, job_id: str) -> None:
    """The safe point: before the browser opens. Once the form is being sent, a booking runs to its end."""
    try:
        stop_if_cancelled()
    except JobCancelled:
        records.mark_cancelled(integracao_id)
        records.add_log(integracao_id, job_id, "cancelado", "cancelado pelo usuário antes de abrir o portal")
        raise


def _book(integracao: PortalIntegracao, job_id: str) -> dict[str, Any]:
    records.mark_processing(integracao.id)
    portal = _portal_client(integracao.id, job_id)
    try:
        result = portal.book(_booking_request(integracao))
    except PortalPermanentError as error:
        _fail(integracao.id, job_id, str(error))
        raise
    finally:
        records.save_portal_session(portal.storage_state())
    records.mark_booked(integracao.id, result.protocolo)
    records.add_log(integracao.id, job_id, "concluido", f"protocolo {result.protocolo}")
    return {"protocolo": result.protocolo, "ja_existia": result.already_existed}


def _fail(integracao_id: int, job_id: str, message: str) -> None:
    records.mark_failed(integracao_id, message)
    records.add_log(integracao_id, job_id, "erro", message, level="erro")


def _portal_client(integracao_id: int, job_id: str) -> AtacadaoPortal:
    settings = get_settings()
    return AtacadaoPortal(
        thread_browser(),
        base_url=settings.portal_url,
        username=settings.portal_username,
        password=settings.portal_password.get_secret_value(),
        storage_state=records.load_portal_session(),
        on_step=lambda step, message: records.add_log(integracao_id, job_id, step, message),
        timeout_ms=settings.portal_timeout_ms,
    )


def _booking_request(integracao: PortalIntegracao) -> BookingRequest:
    return BookingRequest(
        lote_id=integracao.lote_id,
        data=integracao.data_agendamento,
        hora=integracao.hora_agendamento,
        transportadora=integracao.transportadora,
        tipo_veiculo=integracao.tipo_veiculo,
    )
