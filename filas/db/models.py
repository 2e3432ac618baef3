"""Domain rows in PostgreSQL: portal integrations and their step logs, campaigns, contacts,
messages and opt-outs. Status values are Portuguese because the front end already shows them."""

from datetime import date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from filas.clock import utcnow
from filas.db.types import UtcDateTime
from filas.phones import phone_key


class Base(DeclarativeBase):
    type_annotation_map: ClassVar = {datetime: UtcDateTime(), dict[str, Any]: JSON}  # instants, in UTC everywhere


class Timestamped:
    criado_em: Mapped[datetime] = mapped_column(default=utcnow)
    atualizado_em: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class JobLifecycle:
    """The truth about the job a row is worked on by (filas.lifecycle reads and writes these).

    job_status uses filas.jobs.JobStatus values. The lease says which delivery runs the job and until
    when: a delivery claims it with a conditional UPDATE, renews it while it works, and no other delivery
    can claim it before it expires."""

    job_id: Mapped[str | None] = mapped_column(String(36), index=True)
    job_status: Mapped[str | None] = mapped_column(String(20))
    job_attempts: Mapped[int] = mapped_column(Integer, default=0)
    job_error: Mapped[str | None] = mapped_column(Text)
    job_cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    job_lease_owner: Mapped[str | None] = mapped_column(String(200))
    job_lease_until: Mapped[datetime | None]
    job_queued_at: Mapped[datetime | None]
    job_started_at: Mapped[datetime | None]
    job_finished_at: Mapped[datetime | None]
    # What the job returned, once it finished (as filas.jobs.result_json writes it): status reads answer with it
    # when the Redis view has none — expired, or not yet final.
    job_result: Mapped[Any] = mapped_column(JSON(none_as_null=True), nullable=True)


# --- portal bookings --------------------------------------------------------------------------

class BookingStatus(StrEnum):
    PENDING = "pendente"  # committed, message enqueued, not started
    PROCESSING = "processando"  # a worker is driving the portal
    BOOKED = "agendado"  # booked: protocolo is set
    ERROR = "erro"  # failed for good; can be reprocessed
    CANCELLED = "cancelado"



# A load in one of these states must not get a second booking request.
LOAD_BLOCKING_STATUSES = (BookingStatus.PENDING, BookingStatus.PROCESSING, BookingStatus.BOOKED)


class Booking(JobLifecycle, Timestamped, Base):
    __tablename__ = "portal_integracoes"

    id: Mapped[int] = mapped_column(primary_key=True)
    portal: Mapped[str] = mapped_column(String(40), default="atacadao")
    lote_id: Mapped[str] = mapped_column(String(80), index=True)
    data_agendamento: Mapped[date] = mapped_column(Date)
    hora_agendamento: Mapped[str] = mapped_column(String(5))
    transportadora: Mapped[str] = mapped_column(String(200))
    tipo_veiculo: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default=BookingStatus.PENDING)
    protocolo: Mapped[str | None] = mapped_column(String(80))
    mensagem: Mapped[str | None] = mapped_column(Text)
    # Set once the form went to the portal: a later delivery must look for the booking before submitting.
    submetido_em: Mapped[datetime | None]

    logs: Mapped[list["BookingLog"]] = relationship(
        back_populates="booking", order_by="BookingLog.id", cascade="all, delete-orphan"
    )

    __table_args__ = (
        # The database itself refuses a second live request for the same load on the same portal.
        Index(
            "uq_portal_integracoes_lote_ativo",
            "portal",
            "lote_id",
            unique=True,
            postgresql_where=text("status IN ('pendente', 'processando', 'agendado')"),
            sqlite_where=text("status IN ('pendente', 'processando', 'agendado')"),
        ),
    )


class BookingLog(Base):
    __tablename__ = "portal_logs"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(
        "integracao_id", ForeignKey("portal_integracoes.id", ondelete="CASCADE"), index=True
    )
    etapa: Mapped[str] = mapped_column(String(40))
    nivel: Mapped[str] = mapped_column(String(10), default="info")
    mensagem: Mapped[str] = mapped_column(Text)
    job_id: Mapped[str | None] = mapped_column(String(36))
    criado_em: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    booking: Mapped[Booking] = relationship(back_populates="logs")


class BookingEvidence(Base):
    """What the portal showed when a booking attempt failed: a JPEG screenshot and the page's HTML, each cut
    to FILAS_PORTAL_EVIDENCE_MAX_BYTES, password inputs' values removed. Kept for
    FILAS_PORTAL_EVIDENCE_RETENTION_DAYS, at most FILAS_PORTAL_EVIDENCE_PER_INTEGRATION per integration."""

    __tablename__ = "portal_evidencias"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(
        "integracao_id", ForeignKey("portal_integracoes.id", ondelete="CASCADE"), index=True
    )
    job_id: Mapped[str | None] = mapped_column(String(36))
    tentativa: Mapped[int] = mapped_column(Integer, default=1)
    etapa: Mapped[str | None] = mapped_column(String(40))  # the last step logged before the failure
    erro: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    screenshot: Mapped[bytes | None] = mapped_column(LargeBinary)
    html: Mapped[str | None] = mapped_column(Text)
    html_truncado: Mapped[bool] = mapped_column(Boolean, default=False)
    screenshot_bytes: Mapped[int] = mapped_column(Integer, default=0)
    html_bytes: Mapped[int] = mapped_column(Integer, default=0)  # UTF-8
    criado_em: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class IdempotencyKey(Base):
    """A booking request's Idempotency-Key: the same key again gets this integration and job.

    Written in the transaction that creates the integration, so a key without ids is never seen; the
    primary key makes a concurrent request with the same key wait for that transaction, then replay it."""

    __tablename__ = "chaves_idempotencia"

    chave: Mapped[str] = mapped_column(String(200), primary_key=True)
    corpo_hash: Mapped[str] = mapped_column(String(64))  # sha256 of the validated body
    booking_id: Mapped[int | None] = mapped_column(
        "integracao_id", ForeignKey("portal_integracoes.id", ondelete="CASCADE")
    )
    job_id: Mapped[str | None] = mapped_column(String(36))
    criado_em: Mapped[datetime] = mapped_column(default=utcnow)


class PortalSession(Base):
    """The portal's saved browser session (cookies), shared by every portal-worker replica.

    `versao` grows by one at each save: a save names the version it read, and is refused when another
    save came in between (filas_portal.session_store)."""

    __tablename__ = "portal_sessions"

    portal: Mapped[str] = mapped_column(String(40), primary_key=True)
    storage_state: Mapped[dict[str, Any]]
    atualizado_em: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    versao: Mapped[int] = mapped_column(default=1, server_default="1")
    salvo_por: Mapped[str | None] = mapped_column(String(200))  # "worker host:pid" or "user@host (command)"


# --- WhatsApp campaigns -----------------------------------------------------------------------

class CampaignStatus(StrEnum):
    DRAFT = "rascunho"
    VALIDATING = "validando"
    VALIDATED = "validada"
    SENDING = "enviando"
    PAUSED = "pausada"  # its send stopped between two chunks on the user's request; /enviar resumes it
    SENT = "enviada"
    CANCELLED = "cancelada"
    ERROR = "erro"


class Campaign(JobLifecycle, Timestamped, Base):
    """job_id and the lifecycle columns describe the campaign's current task (validation or send)."""

    __tablename__ = "campanhas"

    id: Mapped[int] = mapped_column(primary_key=True)
    nome: Mapped[str] = mapped_column(String(200))
    mensagem: Mapped[str] = mapped_column(Text)
    mensagem_follow_up: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=CampaignStatus.DRAFT)
    validacao_job_id: Mapped[str | None] = mapped_column(String(36), index=True)
    envio_job_id: Mapped[str | None] = mapped_column(String(36), index=True)
    # Meta Cloud API: outside the 24 h window only an approved template may be sent. Its body parameters
    # are, in order, the contact's fields named here ("nome" is the contact's name).
    modelo: Mapped[str | None] = mapped_column(String(200))
    modelo_idioma: Mapped[str | None] = mapped_column(String(20))
    modelo_parametros: Mapped[list[str] | None] = mapped_column(JSON)
    # Follow-up: after this many days without an answer, at most this many (None: the settings' defaults).
    follow_up_dias: Mapped[int | None] = mapped_column(Integer)
    follow_up_max: Mapped[int | None] = mapped_column(Integer)

    contacts: Mapped[list["Contact"]] = relationship(
        back_populates="campaign", order_by="Contact.id", cascade="all, delete-orphan"
    )


class WhatsappStatus(StrEnum):
    PENDING = "pendente"
    VALID = "valido"
    INVALID = "invalido"


class Contact(Base):
    __tablename__ = "contatos"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column("campanha_id", ForeignKey("campanhas.id", ondelete="CASCADE"), index=True)
    nome: Mapped[str] = mapped_column(String(200))
    telefone: Mapped[str] = mapped_column(String(20))  # E.164 digits without '+', e.g. 5585999990001
    # filas.phones.phone_key(telefone): what an opt-out is kept as; joined with opt_outs before every send.
    telefone_hash: Mapped[str] = mapped_column(
        String(64), index=True, default=lambda context: phone_key(context.get_current_parameters()["telefone"])
    )
    campos: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # template fields (CSV columns beyond nome, telefone)
    whatsapp_status: Mapped[str] = mapped_column(String(20), default=WhatsappStatus.PENDING)
    whatsapp_id: Mapped[str | None] = mapped_column(String(80))  # the gateway's id (may lack the 9th digit)
    respondeu_em: Mapped[datetime | None]
    criado_em: Mapped[datetime] = mapped_column(default=utcnow)

    campaign: Mapped[Campaign] = relationship(back_populates="contacts")
    messages: Mapped[list["CampaignMessage"]] = relationship(back_populates="contact", order_by="CampaignMessage.id")

    __table_args__ = (UniqueConstraint("campanha_id", "telefone", name="uq_contatos_campanha_telefone"),)


class MessageKind(StrEnum):
    INITIAL = "inicial"
    FOLLOW_UP = "follow_up"


class MessageStatus(StrEnum):
    SENDING = "enviando"  # claimed; a worker that dies here leaves it to be looked up at the gateway
    SENT = "enviada"
    FAILED = "falhou"
    IGNORED = "ignorada"  # opted out or no WhatsApp at send time


class DeliveryStatus(StrEnum):
    """What a gateway's status webhook says about a message that left."""

    SENT = "enviada"
    DELIVERED = "entregue"
    READ = "lida"
    FAILED = "falhou"


class CampaignMessage(Base):
    """One message to one contact. The unique key makes a redelivered send skip contacts already done."""

    __tablename__ = "mensagens"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column("campanha_id", ForeignKey("campanhas.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int] = mapped_column("contato_id", ForeignKey("contatos.id", ondelete="CASCADE"))
    tipo: Mapped[str] = mapped_column(String(20))
    referencia: Mapped[str] = mapped_column(String(20), default="")  # follow-up: the day it belongs to
    status: Mapped[str] = mapped_column(String(20), default=MessageStatus.SENDING)
    gateway_message_id: Mapped[str | None] = mapped_column(String(120), index=True)
    erro: Mapped[str | None] = mapped_column(Text)
    criado_em: Mapped[datetime] = mapped_column(default=utcnow)  # when it was claimed
    enviado_em: Mapped[datetime | None]
    # What the gateway's status webhooks said last (DeliveryStatus), and when.
    entrega: Mapped[str | None] = mapped_column(String(20))
    entrega_em: Mapped[datetime | None]

    contact: Mapped[Contact] = relationship(back_populates="messages")

    __table_args__ = (
        UniqueConstraint("contato_id", "tipo", "referencia", name="uq_mensagens_contato_tipo_referencia"),
    )


class OptOut(Base):
    """A number that asked not to be contacted (LGPD art. 18). Checked before every send.

    Kept as filas.phones.phone_key (a keyed hash), not as the number: it outlives the patient's erasure."""

    __tablename__ = "opt_outs"

    telefone_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    motivo: Mapped[str | None] = mapped_column(Text)
    criado_em: Mapped[datetime] = mapped_column(default=utcnow)


# --- periodic jobs ----------------------------------------------------------------------------

class PeriodicRun(Base):
    """One run of a daily job for one local day (`referencia`), claimed before the job does anything.

    The primary key makes the daily job run once per day, whoever sends it: a second delivery, a
    scheduler's catch-up tick or a second scheduler finds the day's row taken and does nothing. The job
    id tells a redelivery or retry of the claiming job (it carries on) from another job (it stops)."""

    __tablename__ = "execucoes_periodicas"

    actor: Mapped[str] = mapped_column(String(80), primary_key=True)
    referencia: Mapped[date] = mapped_column(Date, primary_key=True)  # the local day the run belongs to
    job_id: Mapped[str] = mapped_column(String(36))
    iniciado_em: Mapped[datetime] = mapped_column(default=utcnow)
    finalizado_em: Mapped[datetime | None]
