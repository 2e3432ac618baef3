"""The campaign worker's reads and writes of campaign, contact and message rows."""

from datetime import date, datetime

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from filas.clock import utcnow
from filas.db.models import (
    Campanha,
    CampanhaStatus,
    Contato,
    ExecucaoPeriodica,
    Mensagem,
    MensagemStatus,
    MensagemTipo,
    OptOut,
    WhatsappStatus,
)
from filas.db.session import session_scope


def load_campaign(campanha_id: int) -> Campanha | None:
    with session_scope() as session:
        return session.get(Campanha, campanha_id)


def set_campaign_status(campanha_id: int, status: str) -> None:
    with session_scope() as session:
        session.get(Campanha, campanha_id, with_for_update=True).status = status


def contacts_to_validate(campanha_id: int) -> list[Contato]:
    with session_scope() as session:
        return list(session.scalars(
            select(Contato).where(Contato.campanha_id == campanha_id,
                                  Contato.whatsapp_status == WhatsappStatus.PENDENTE).order_by(Contato.id)
        ))


def count_contacts(campanha_id: int, whatsapp_status: str | None = None) -> int:
    query = select(func.count()).select_from(Contato).where(Contato.campanha_id == campanha_id)
    if whatsapp_status:
        query = query.where(Contato.whatsapp_status == whatsapp_status)
    with session_scope() as session:
        return session.scalar(query)


def save_validation(results: dict[int, tuple[bool, str | None]]) -> None:
    """contact id → (has WhatsApp, the gateway's id for it)."""
    with session_scope() as session:
        for contact_id, (exists_, whatsapp_id) in results.items():
            contato = session.get(Contato, contact_id)
            contato.whatsapp_status = WhatsappStatus.VALIDO if exists_ else WhatsappStatus.INVALIDO
            contato.whatsapp_id = whatsapp_id


def valid_contacts(campanha_id: int) -> list[Contato]:
    with session_scope() as session:
        return list(session.scalars(
            select(Contato).where(Contato.campanha_id == campanha_id,
                                  Contato.whatsapp_status == WhatsappStatus.VALIDO).order_by(Contato.id)
        ))


def claim_message(contato: Contato, tipo: str, referencia: str = "") -> Mensagem | None:
    """Insert the message row before sending; None if this contact already has it (sent or claimed).

    The unique key (contact, kind, reference) is what makes a redelivered send skip done contacts. An
    opted-out number is recorded as skipped in the same transaction, so that no failure between the two
    can leave a row 'enviando' for a message that was never going to leave."""
    try:
        with session_scope() as session:
            opted_out = session.get(OptOut, contato.telefone) is not None
            mensagem = Mensagem(campanha_id=contato.campanha_id, contato_id=contato.id, tipo=tipo,
                                referencia=referencia,
                                status=MensagemStatus.IGNORADA if opted_out else MensagemStatus.ENVIANDO,
                                erro="opt-out" if opted_out else None)
            session.add(mensagem)
            session.flush()
            return mensagem
    except IntegrityError:
        return None


def release_claim(mensagem_id: int) -> None:
    """The send surely did not leave (e.g. 429, connection refused): a retry may send it."""
    with session_scope() as session:
        session.execute(delete(Mensagem).where(Mensagem.id == mensagem_id))


def finish_message(mensagem_id: int, status: str, gateway_message_id: str | None = None,
                   erro: str | None = None) -> None:
    with session_scope() as session:
        mensagem = session.get(Mensagem, mensagem_id)
        mensagem.status = status
        mensagem.gateway_message_id = gateway_message_id
        mensagem.erro = erro
        if status == MensagemStatus.ENVIADA:
            mensagem.enviado_em = utcnow()


def count_messages(campanha_id: int, tipo: str, referencia: str = "") -> dict[str, int]:
    with session_scope() as session:
        return dict(session.execute(
            select(Mensagem.status, func.count()).where(Mensagem.campanha_id == campanha_id, Mensagem.tipo == tipo,
                                                        Mensagem.referencia == referencia)
            .group_by(Mensagem.status)
        ).all())


# A campaign the user cancelled, that failed, or that never went out gets no follow-up.
NO_FOLLOW_UP = (CampanhaStatus.CANCELADA, CampanhaStatus.ERRO, CampanhaStatus.RASCUNHO)


def follow_up_candidates(sent_before: datetime, referencia: str, max_follow_ups: int) -> list[tuple[Contato, str]]:
    """(contact, follow-up text) for contacts whose first message left before `sent_before`, who have not
    answered, have not opted out, have no follow-up for `referencia` yet and fewer than the maximum, in
    campaigns that were not cancelled, failed or left as drafts.

    `sent_before` is an instant (aware): the column type (filas.db.types.UtcDateTime) compares it in UTC,
    on SQLite too."""
    first_sent = select(Mensagem.id).where(
        Mensagem.contato_id == Contato.id, Mensagem.tipo == MensagemTipo.INICIAL,
        Mensagem.status == MensagemStatus.ENVIADA, Mensagem.enviado_em < sent_before,
    )
    follow_ups = select(func.count(Mensagem.id)).where(
        Mensagem.contato_id == Contato.id, Mensagem.tipo == MensagemTipo.FOLLOW_UP
    ).scalar_subquery()
    today = select(Mensagem.id).where(
        Mensagem.contato_id == Contato.id, Mensagem.tipo == MensagemTipo.FOLLOW_UP, Mensagem.referencia == referencia
    )
    opted_out = select(OptOut.telefone).where(OptOut.telefone == Contato.telefone)
    query = (
        select(Contato, Campanha.mensagem_follow_up)
        .join(Campanha, Campanha.id == Contato.campanha_id)
        .where(Campanha.mensagem_follow_up.is_not(None), Campanha.status.not_in(NO_FOLLOW_UP),
               Contato.respondeu_em.is_(None),
               exists(first_sent), ~exists(today), ~exists(opted_out), follow_ups < max_follow_ups)
        .order_by(Contato.id)
    )
    with session_scope() as session:
        return [(contato, text) for contato, text in session.execute(query).all()]


def claim_daily_run(actor: str, referencia: date, job_id: str) -> bool:
    """Take the run of a daily job for the local day `referencia` (INSERT ... ON CONFLICT DO NOTHING).

    True if this job holds it: just claimed, or claimed earlier by this same job and not finished (a retry
    or a redelivery carries on). False if another job has it, or this one already finished it."""
    with session_scope() as session:
        claimed = session.scalar(
            _insert(session).values(actor=actor, referencia=referencia, job_id=job_id, iniciado_em=utcnow())
            .on_conflict_do_nothing(index_elements=["actor", "referencia"])
            .returning(ExecucaoPeriodica.job_id)
        )
        if claimed is not None:  # (RETURNING, not rowcount: the ORM session reports -1 for this insert)
            return True
        run = session.get(ExecucaoPeriodica, (actor, referencia))
        return run is not None and run.job_id == job_id and run.finalizado_em is None


def finish_daily_run(actor: str, referencia: date, job_id: str) -> None:
    with session_scope() as session:
        session.execute(
            update(ExecucaoPeriodica)
            .where(ExecucaoPeriodica.actor == actor, ExecucaoPeriodica.referencia == referencia,
                   ExecucaoPeriodica.job_id == job_id)
            .values(finalizado_em=utcnow())
        )


def _insert(session: Session) -> postgresql.Insert | sqlite.Insert:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(ExecucaoPeriodica)
    if dialect == "sqlite":
        return sqlite.insert(ExecucaoPeriodica)
    raise RuntimeError(f"no INSERT ... ON CONFLICT for the {dialect} dialect")
