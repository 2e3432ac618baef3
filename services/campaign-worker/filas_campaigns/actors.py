"""The campaign worker's actors: validate numbers, send a campaign, the daily follow-up, clean-up."""

import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from filas import contracts
from filas.db.models import CampanhaStatus, MensagemTipo, WhatsappStatus
from filas.errors import JobCancelled, PermanentJobError
from filas.runtime import current_job_id, is_last_attempt, report_progress, stop_if_cancelled
from filas.settings import get_settings
from filas_campaigns import records
from filas_campaigns.gateways import GatewayPermanentError, gateway_from_settings
from filas_campaigns.sending import send_once

logger = logging.getLogger(__name__)

VALIDATION_CHUNK = 100


def validate_numbers(campanha_id: int) -> dict[str, Any]:
    campanha = records.load_campaign(campanha_id)
    if not _is_current(campanha, CampanhaStatus.VALIDANDO, "validacao_job_id"):
        return {"ignorado": True}
    total = records.count_contacts(campanha_id)
    pending = records.contacts_to_validate(campanha_id)
    done = total - len(pending)
    with _campaign_step(campanha_id, contracts.VALIDATE_NUMBERS, on_cancel=CampanhaStatus.RASCUNHO):
        gateway = gateway_from_settings(get_settings())
        try:
            for start in range(0, len(pending), VALIDATION_CHUNK):
                stop_if_cancelled()
                chunk = pending[start:start + VALIDATION_CHUNK]
                statuses = gateway.check_numbers([contato.telefone for contato in chunk])
                records.save_validation({c.id: (s.exists, s.whatsapp_id) for c, s in zip(chunk, statuses, strict=True)})
                done += len(chunk)
                report_progress(done, total)
        finally:
            gateway.close()
    records.set_campaign_status(campanha_id, CampanhaStatus.VALIDADA)
    report_progress(total, total)
    return {
        "campanha_id": campanha_id,
        "validos": records.count_contacts(campanha_id, WhatsappStatus.VALIDO),
        "invalidos": records.count_contacts(campanha_id, WhatsappStatus.INVALIDO),
    }


def send_campaign(campanha_id: int) -> dict[str, Any]:
    campanha = records.load_campaign(campanha_id)
    if not _is_current(campanha, CampanhaStatus.ENVIANDO, "envio_job_id"):
        return {"ignorado": True}
    contatos = records.valid_contacts(campanha_id)
    with _campaign_step(campanha_id, contracts.SEND_CAMPAIGN, on_cancel=CampanhaStatus.CANCELADA):
        gateway = gateway_from_settings(get_settings())
        try:
            for done, contato in enumerate(contatos, start=1):
                stop_if_cancelled()
                send_once(gateway, contato, campanha.mensagem, MensagemTipo.INICIAL)
                report_progress(done, len(contatos))
        finally:
            gateway.close()
    records.set_campaign_status(campanha_id, CampanhaStatus.ENVIADA)
    report_progress(len(contatos), len(contatos))
    return {"campanha_id": campanha_id, **records.count_messages(campanha_id, MensagemTipo.INICIAL)}


def follow_up() -> dict[str, Any]:
    """Follow up, once per local day, with contacts whose first message went out before today."""
    settings = get_settings()
    today_start = datetime.combine(datetime.now(ZoneInfo(settings.schedule_timezone)).date(), time.min,
                                   tzinfo=ZoneInfo(settings.schedule_timezone))
    referencia = today_start.date().isoformat()
    candidates = records.follow_up_candidates(today_start, referencia, settings.follow_up_max)
    outcomes: Counter[str] = Counter()
    gateway = gateway_from_settings(settings)
    try:
        for done, (contato, text) in enumerate(candidates, start=1):
            stop_if_cancelled()
            outcomes[send_once(gateway, contato, text, MensagemTipo.FOLLOW_UP, referencia)] += 1
            report_progress(done, len(candidates))
    finally:
        gateway.close()
    return {"referencia": referencia, "contatos": len(candidates), **outcomes}


def _is_current(campanha, busy_status: str, job_field: str) -> bool:
    """A redelivered or superseded message finds its campaign moved on and does nothing."""
    job_id = current_job_id()
    if campanha is None:
        raise PermanentJobError("campanha não existe")
    current = campanha.status == busy_status and getattr(campanha, job_field) == job_id
    if not current:
        logger.info("campaign %s: job %s is not current (status %s)", campanha.id, job_id, campanha.status)
    return current


@contextmanager
def _campaign_step(campanha_id: int, contract: contracts.ActorContract, on_cancel: str) -> Iterator[None]:
    """Leaves the campaign in a state the front end can act on when its job ends without success."""
    try:
        yield
    except JobCancelled:
        records.set_campaign_status(campanha_id, on_cancel)
        raise
    except GatewayPermanentError as error:
        records.set_campaign_status(campanha_id, CampanhaStatus.ERRO)
        raise PermanentJobError(f"gateway recusou a operação: {error}") from error
    except Exception:
        if is_last_attempt(contract):  # a transient failure that will not be retried any more
            records.set_campaign_status(campanha_id, CampanhaStatus.ERRO)
        raise
