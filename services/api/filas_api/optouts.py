"""Recording an opt-out, safe when several requests record the same number at once."""

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from filas.clock import utcnow
from filas.db.models import OptOut

INSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def record_opt_out(session: Session, telefone: str, motivo: str | None) -> None:
    """INSERT ... ON CONFLICT DO NOTHING: the first record of a number stays, and a concurrent second
    one is neither an error nor a duplicate (a read-then-insert would race into a primary-key error)."""
    insert = INSERT[session.get_bind().dialect.name]
    session.execute(
        insert(OptOut)
        .values(telefone=telefone, motivo=motivo, criado_em=utcnow())
        .on_conflict_do_nothing(index_elements=[OptOut.telefone])
    )
