"""The global do-not-contact list every campaign honours: record an opt-out, ask about a number.

One module for every writer (the API's opt-out route and webhooks, erasure) and reader (the campaign
worker). Numbers are kept as filas.phones.phone_key, never as digits."""

from sqlalchemy import exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from filas.clock import utcnow
from filas.db.models import OptOut
from filas.phones import phone_key

INSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def record_opt_out(session: Session, telefone: str, motivo: str | None) -> None:
    """INSERT ... ON CONFLICT DO NOTHING: the first record of a number stays, and a concurrent second
    one is neither an error nor a duplicate (a read-then-insert would race into a primary-key error)."""
    insert = INSERT[session.get_bind().dialect.name]
    session.execute(
        insert(OptOut)
        .values(telefone_hash=phone_key(telefone), motivo=motivo, criado_em=utcnow())
        .on_conflict_do_nothing(index_elements=[OptOut.telefone_hash])
    )


def is_opted_out(session: Session, telefone: str) -> bool:
    return bool(session.scalar(select(exists().where(OptOut.telefone_hash == phone_key(telefone)))))
