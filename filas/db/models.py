"""Domain rows in PostgreSQL: portal integrations and their step logs, campaigns, contacts,
messages and opt-outs. Status values are Portuguese because the front end already shows them."""

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from filas.clock import utcnow


class Base(DeclarativeBase):
    type_annotation_map: ClassVar = {datetime: DateTime(timezone=True), dict[str, Any]: JSON}


class Timestamped:
    criado_em: Mapped[datetime] = mapped_column(default=utcnow)
    atualizado_em: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# --- portal bookings --------------------------------------------------------------------------

class IntegracaoStatus:
    PENDENTE = "pendente"  # committed, message enqueued, not started
    PROCESSANDO = "processando"  # a worker is driving the portal
    AGENDADO = "agendado"  # booked: protocolo is set
    ERRO = "erro"  # failed for good; can be reprocessed
    CANCELADO = "cancelado"

    # A load in one of these states must not get a second booking request.
    BLOCKING = (PENDENTE, PROCESSANDO, AGENDADO)


class PortalIntegracao(Timestamped, Base):
    __tablename__ = "portal_integracoes"

    id: Mapped[int] = mapped_column(primary_key=True)
    portal: Mapped[str] = mapped_column(String(40), default="atacadao")
    lote_id: Mapped[str] = mapped_column(String(80), index=True)
    data_agendamento: Mapped[date] = mapped_column(Date)
    hora_agendamento: Mapped[str] = mapped_column(String(5))
    transportadora: Mapped[str] = mapped_column(String(200))
    tipo_veiculo: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default=IntegracaoStatus.PENDENTE)
    protocolo: Mapped[str | None] = mapped_column(String(80))
    mensagem: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[str | None] = mapped_column(String(36), index=True)
    tentativas: Mapped[int] = mapped_column(Integer, default=0)
    finalizado_em: Mapped[datetime | None]

    logs: Mapped[list["PortalLog"]] = relationship(
        back_populates="integracao", order_by="PortalLog.id", cascade="all, delete-orphan"
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


class PortalLog(Base):
    __tablename__ = "portal_logs"

    id: Mapped[int] = mapped_column(primary_key=True)
    integracao_id: Mapped[int] = mapped_column(ForeignKey("portal_integracoes.id", ondelete="CASCADE"), index=True)
    etapa: Mapped[str] = mapped_column(String(40))
    nivel: Mapped[str] = mapped_column(String(10), default="info")
    mensagem: Mapped[str] = mapped_column(Text)
    job_id: Mapped[str | None] = mapped_column(String(36))
    criado_em: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    integracao: Mapped[PortalIntegracao] = relationship(back_populates="logs")


class PortalSession(Base):
    """The portal's saved browser session (cookies), shared by every portal-worker replica."""

    __tablename__ = "portal_sessions"

    portal: Mapped[str] = mapped_column(String(40), primary_key=True)
    storage_state: Mapped[dict[str, Any]]
    atualizado_em: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# --- WhatsApp campaigns -----------------------------------------------------------------------

class CampanhaStatus:
    RASCUNHO = "rascunho"
    VALIDANDO = "validando"
    VALIDADA = "validada"
    ENVIANDO = "enviando"
    ENVIADA = "enviada"
    CANCELADA = "cancelada"
    ERRO = "erro"


class Campanha(Timestamped, Base):
    __tablename__ = "campanhas"

    id: Mapped[int] = mapped_column(primary_key=True)
    nome: Mapped[str] = mapped_column(String(200))
    mensagem: Mapped[str] = mapped_column(Text)
    mensagem_follow_up: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=CampanhaStatus.RASCUNHO)
    validacao_job_id: Mapped[str | None] = mapped_column(String(36), index=True)
    envio_job_id: Mapped[str | None] = mapped_column(String(36), index=True)

    contatos: Mapped[list["Contato"]] = relationship(
        back_populates="campanha", order_by="Contato.id", cascade="all, delete-orphan"
    )


class WhatsappStatus:
    PENDENTE = "pendente"
    VALIDO = "valido"
    INVALIDO = "invalido"


class Contato(Base):
    __tablename__ = "contatos"

    id: Mapped[int] = mapped_column(primary_key=True)
    campanha_id: Mapped[int] = mapped_column(ForeignKey("campanhas.id", ondelete="CASCADE"), index=True)
    nome: Mapped[str] = mapped_column(String(200))
    telefone: Mapped[str] = mapped_column(String(20))  # E.164 digits without '+', e.g. 5585999990001
    whatsapp_status: Mapped[str] = mapped_column(String(20), default=WhatsappStatus.PENDENTE)
    whatsapp_id: Mapped[str | None] = mapped_column(String(80))  # the gateway's id (may lack the 9th digit)
    respondeu_em: Mapped[datetime | None]
    criado_em: Mapped[datetime] = mapped_column(default=utcnow)

    campanha: Mapped[Campanha] = relationship(back_populates="contatos")
    mensagens: Mapped[list["Mensagem"]] = relationship(back_populates="contato", order_by="Mensagem.id")

    __table_args__ = (UniqueConstraint("campanha_id", "telefone", name="uq_contatos_campanha_telefone"),)


class MensagemTipo:
    INICIAL = "inicial"
    FOLLOW_UP = "follow_up"


class MensagemStatus:
    ENVIANDO = "enviando"  # claimed; if a worker dies here we cannot know whether it left
    ENVIADA = "enviada"
    FALHOU = "falhou"
    IGNORADA = "ignorada"  # opted out or no WhatsApp at send time


class Mensagem(Base):
    """One message to one contact. The unique key makes a redelivered send skip contacts already done."""

    __tablename__ = "mensagens"

    id: Mapped[int] = mapped_column(primary_key=True)
    campanha_id: Mapped[int] = mapped_column(ForeignKey("campanhas.id", ondelete="CASCADE"), index=True)
    contato_id: Mapped[int] = mapped_column(ForeignKey("contatos.id", ondelete="CASCADE"))
    tipo: Mapped[str] = mapped_column(String(20))
    referencia: Mapped[str] = mapped_column(String(20), default="")  # follow-up: the day it belongs to
    status: Mapped[str] = mapped_column(String(20), default=MensagemStatus.ENVIANDO)
    gateway_message_id: Mapped[str | None] = mapped_column(String(120))
    erro: Mapped[str | None] = mapped_column(Text)
    criado_em: Mapped[datetime] = mapped_column(default=utcnow)
    enviado_em: Mapped[datetime | None]

    contato: Mapped[Contato] = relationship(back_populates="mensagens")

    __table_args__ = (
        UniqueConstraint("contato_id", "tipo", "referencia", name="uq_mensagens_contato_tipo_referencia"),
    )


class OptOut(Base):
    """A number that asked not to be contacted (LGPD art. 18). Checked before every send."""

    __tablename__ = "opt_outs"

    telefone: Mapped[str] = mapped_column(String(20), primary_key=True)
    motivo: Mapped[str | None] = mapped_column(Text)
    criado_em: Mapped[datetime] = mapped_column(default=utcnow)
