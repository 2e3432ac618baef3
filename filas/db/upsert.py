"""INSERT ... ON CONFLICT for the session's database (PostgreSQL in production, SQLite for `make run`)."""

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

_INSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def insert_for(session: Session, model: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into `model` that has on_conflict_do_nothing/do_update, in the session database's dialect."""
    dialect = session.get_bind().dialect.name
    if dialect not in _INSERT:
        raise RuntimeError(f"no INSERT ... ON CONFLICT for the {dialect} dialect")
    return _INSERT[dialect](model)
