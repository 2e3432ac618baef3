"""The global do-not-contact list every campaign honours: record an opt-out, ask about a number.

One module for every writer (the API's opt-out route and webhooks, erasure) and reader (the campaign
worker). Numbers are kept as filas.phones.phone_key, never as digits."""

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from filas.clock import utcnow
from filas.db.models import OptOut
from filas.db.upsert import insert_for
from filas.phones import phone_key


def record_opt_out(session: Session, telefone: str, motivo: str | None) -> None:
    """INSERT ... ON CONFLICT DO NOTHING: the first record of a number stays, and a concurrent second
    one is neither an error nor a duplicate (a read-then-insert would race into a primary-key error)."""
    session.execute(
        insert_for(session, OptOut)
        .values(telefone_hash=phone_key(telefone), motivo=motivo, criado_em=utcnow())
        .on_conflict_do_nothing(index_elements=[OptOut.telefone_hash])
    )


def is_opted_out(session: Session, telefone: str) -> bool:
    return bool(session.scalar(select(exists().where(OptOut.telefone_hash == phone_key(telefone)))))


def opted_out_among(session: Session, numbers: list[str]) -> set[str]:
    """Those of `numbers` that opted out (a list to import is checked at once, a thousand keys a query)."""
    by_key = {phone_key(number): number for number in numbers}
    keys = list(by_key)
    found: set[str] = set()
    for start in range(0, len(keys), 1000):
        batch = keys[start:start + 1000]
        found.update(session.scalars(select(OptOut.telefone_hash).where(OptOut.telefone_hash.in_(batch))))
    return {by_key[key] for key in found}
