"""What the WhatsApp gateways' webhooks tell Filas, whichever the gateway: a patient's reply, and a message's
delivery status. The webhook blueprints (evolution_webhook, meta_webhook) read their gateway's shapes and
call these; nothing here knows a gateway.

- A reply marks the contact answered (by the sender's gateway id or number, with or without the 9th digit);
  a reply that is one of FILAS_OPT_OUT_WORDS (case and accents ignored) opts the number out.
- A delivery status updates mensagens.entrega/entrega_em by the gateway's message id. Statuses only move
  forward (read is never followed by delivered), whatever order the webhooks arrive in. A status that names
  our message id (the Cloud API echoes biz_opaque_callback_data) also resolves a send whose worker was cut
  off before it wrote the gateway's id: a row still 'enviando' becomes 'enviada'. A failure that says the
  number cannot receive (131026) marks the message failed and the contact's number invalid.
"""

import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import ColumnElement, Row, or_, select, update
from sqlalchemy.orm import Session

from filas.clock import utcnow
from filas.db.models import CampaignMessage, Contact, DeliveryStatus, MessageStatus, WhatsappStatus
from filas.db.session import session_scope
from filas.opt_outs import record_opt_out
from filas.phones import mask, with_ninth_digit

logger = logging.getLogger(__name__)

# A sender whose id is a phone number (E.164 digits; a jid on s.whatsapp.net or a bare wa_id), as opposed to a
# group (@g.us) or a WhatsApp LID: only a phone number can be stored as an opt-out.
E164_DIGITS = re.compile(r"[0-9]{8,15}")
PHONE_DOMAINS = ("", "s.whatsapp.net")
# The earlier statuses each status may replace.
REPLACES: dict[DeliveryStatus, tuple[DeliveryStatus, ...]] = {
    DeliveryStatus.SENT: (),
    DeliveryStatus.DELIVERED: (DeliveryStatus.SENT,),
    DeliveryStatus.READ: (DeliveryStatus.SENT, DeliveryStatus.DELIVERED),
    DeliveryStatus.FAILED: (DeliveryStatus.SENT,),
}
UNDELIVERABLE_CODES = frozenset({131026})  # Cloud API: the number cannot receive WhatsApp messages
MAX_ROW_ID = 2_147_483_647  # mensagens.id is a PostgreSQL integer
MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class DeliveryReport:
    """One status webhook about one of our messages."""

    gateway_message_id: str
    status: DeliveryStatus
    at: datetime
    reference: str | None = None  # our message id, where the gateway echoes it
    error_code: int | None = None
    error: str | None = None


# --- replies ------------------------------------------------------------------------------------


def record_reply(sender: str, text: str, opt_out_words: str) -> dict[str, object]:
    """`sender`: the gateway's id of the patient (an Evolution jid, a Cloud API wa_id)."""
    phone = _phone_of(sender)
    numbers = {phone, with_ninth_digit(phone)} if phone else set()
    matches = or_(Contact.whatsapp_id == sender, Contact.telefone.in_(numbers))
    opted_out = is_opt_out(text, opt_out_words)
    with session_scope() as session:
        answered = session.execute(
            update(Contact).where(matches, Contact.respondeu_em.is_(None)).values(respondeu_em=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
        if opted_out:
            for telefone in _known_numbers(session, matches, phone):
                record_opt_out(session, telefone, "respondeu pedindo para sair")
    logger.info("reply from %s: %d contacts answered, opt-out=%s", mask(sender.partition("@")[0]), answered,
                opted_out)
    return {"contatos_respondidos": answered, "opt_out": opted_out}


def is_opt_out(text: str, opt_out_words: str) -> bool:
    """Whether a reply is one of the comma-separated opt-out words (case, accents, spaces and a final . or !
    ignored)."""
    return _plain(text).rstrip(".!").strip() in _words(opt_out_words)


@lru_cache(maxsize=8)
def _words(opt_out_words: str) -> frozenset[str]:
    return frozenset(word for word in (_plain(item) for item in opt_out_words.split(",")) if word)


def _plain(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(ascii_text.upper().split())


def _phone_of(sender: str) -> str | None:
    user, _, domain = sender.partition("@")
    return user if domain in PHONE_DOMAINS and E164_DIGITS.fullmatch(user) else None


def _known_numbers(session: Session, matches: ColumnElement[bool], phone: str | None) -> set[str]:
    """The E.164 numbers we store for this sender (its id may lack the 9th digit); else its own number."""
    found = set(session.scalars(select(Contact.telefone).where(matches)))
    return found or ({with_ninth_digit(phone)} if phone else set())


# --- delivery statuses --------------------------------------------------------------------------


def record_delivery(report: DeliveryReport) -> bool:
    """Apply one status; False when it changed nothing (unknown message, or an older status)."""
    with session_scope() as session:
        resolved = _resolve_cut_off_send(session, report)
        rows = session.execute(
            update(CampaignMessage)
            .where(CampaignMessage.gateway_message_id == report.gateway_message_id,
                   or_(CampaignMessage.entrega.is_(None), CampaignMessage.entrega.in_(REPLACES[report.status])))
            .values(entrega=report.status, entrega_em=report.at)
            .returning(CampaignMessage.id, CampaignMessage.contact_id)
            .execution_options(synchronize_session=False)
        ).all()
        if rows and report.status == DeliveryStatus.FAILED:
            _record_failure(session, report, rows)
    logger.info("delivery status %s of message %s: %s%s", report.status, report.gateway_message_id,
                "applied" if rows else "ignored (unknown message or not newer)",
                ", recorded its send (before its worker did, or in its place if cut off)" if resolved else "")
    return bool(rows)


def _resolve_cut_off_send(session: Session, report: DeliveryReport) -> bool:
    """A status naming our message row still 'enviando': the send left, though its worker never recorded it."""
    reference = (report.reference or "").strip()
    if not reference.isdigit() or not 0 < int(reference) <= MAX_ROW_ID:
        return False
    resolved = session.execute(
        update(CampaignMessage)
        .where(CampaignMessage.id == int(reference), CampaignMessage.status == MessageStatus.SENDING,
               CampaignMessage.gateway_message_id.is_(None))
        .values(status=MessageStatus.SENT, gateway_message_id=report.gateway_message_id, enviado_em=report.at)
        .execution_options(synchronize_session=False)
    ).rowcount
    return bool(resolved)


def _record_failure(session: Session, report: DeliveryReport, rows: list[Row]) -> None:
    message_ids = [row.id for row in rows]
    error = _failure_text(report)
    if report.error_code not in UNDELIVERABLE_CODES:
        session.execute(update(CampaignMessage).where(CampaignMessage.id.in_(message_ids)).values(erro=error)
                        .execution_options(synchronize_session=False))
        return
    session.execute(update(CampaignMessage).where(CampaignMessage.id.in_(message_ids))
                    .values(status=MessageStatus.FAILED, erro=error).execution_options(synchronize_session=False))
    session.execute(update(Contact).where(Contact.id.in_([row.contact_id for row in rows]))
                    .values(whatsapp_status=WhatsappStatus.INVALID).execution_options(synchronize_session=False))


def _failure_text(report: DeliveryReport) -> str:
    code = f" ({report.error_code})" if report.error_code is not None else ""
    detail = f": {report.error}" if report.error else ""
    return f"entrega falhou{code}{detail}"[:MAX_ERROR_CHARS]
