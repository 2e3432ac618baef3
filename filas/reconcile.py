"""Re-enqueue accepted work whose job never reached Redis or vanished from it.

A domain row is committed with its job id before the message is sent. If Redis was down at that
moment, or was flushed or failed over afterwards, the row waits with no job. Every minute, rows
still waiting after a grace period whose job id has no job state are sent again under the same
job id; the actors are idempotent, so a message that was in fact still queued does no harm.
"""

import logging
from collections.abc import Iterator
from datetime import timedelta

import dramatiq
from sqlalchemy import select

from filas import contracts
from filas.broker import get_job_store
from filas.clock import utcnow
from filas.db.models import Campanha, CampanhaStatus, IntegracaoStatus, PortalIntegracao
from filas.db.session import session_scope
from filas.enqueue import send
from filas.settings import get_settings

logger = logging.getLogger(__name__)

def reconcile() -> dict[str, int]:
    store = get_job_store()
    resent = 0
    for message in _waiting_messages():
        if store.get(message.message_id) is None:
            logger.warning("re-enqueuing %s job %s: no trace of it in Redis", message.actor_name, message.message_id)
            send(message)
            resent += 1
    return {"reenfileirados": resent}


def _waiting_messages() -> Iterator[dramatiq.Message]:
    grace = timedelta(seconds=get_settings().reconcile_grace_seconds)
    cutoff = utcnow() - grace
    # A booking found 'processando' may still be running on a live worker: only after its time limit.
    running_cutoff = cutoff - timedelta(milliseconds=contracts.SCHEDULE_BOOKING.time_limit_ms)
    with session_scope() as session:
        bookings = session.scalars(select(PortalIntegracao).where(
            PortalIntegracao.job_id.is_not(None),
            ((PortalIntegracao.status == IntegracaoStatus.PENDENTE) & (PortalIntegracao.atualizado_em < cutoff))
            | ((PortalIntegracao.status == IntegracaoStatus.PROCESSANDO)
               & (PortalIntegracao.atualizado_em < running_cutoff)),
        )).all()
        campaigns = session.scalars(select(Campanha).where(
            Campanha.status.in_((CampanhaStatus.VALIDANDO, CampanhaStatus.ENVIANDO)),
            Campanha.atualizado_em < cutoff,
        )).all()
    for integracao in bookings:
        yield _with_id(contracts.SCHEDULE_BOOKING.message(integracao_id=integracao.id), integracao.job_id)
    for campanha in campaigns:
        if campanha.status == CampanhaStatus.VALIDANDO:
            yield _with_id(contracts.VALIDATE_NUMBERS.message(campanha_id=campanha.id), campanha.validacao_job_id)
        else:
            yield _with_id(contracts.SEND_CAMPAIGN.message(campanha_id=campanha.id), campanha.envio_job_id)


def _with_id(message: dramatiq.Message, job_id: str) -> dramatiq.Message:
    return message.copy(message_id=job_id)
