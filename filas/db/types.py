"""Column types that behave the same on PostgreSQL and on SQLite (the `make run` fallback)."""

from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

# Fixed width, zero-padded, always in UTC: on SQLite, where a timestamp is text, comparing two of them
# as strings compares the instants. (SQLAlchemy's own SQLite format, so rows written before keep sorting.)
SQLITE_STORAGE_FORMAT = (
    "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
)


class UtcDateTime(TypeDecorator[datetime]):
    """An instant: stored in UTC, read back as an aware UTC datetime, on every database.

    `DateTime(timezone=True)` alone is right on PostgreSQL (timestamptz) but not on SQLite, which
    keeps the wall-clock digits of whatever zone the value had, drops the zone and returns naive
    datetimes: 00:00 in Fortaleza and 00:00 UTC would be stored alike and compared as equal."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sqlite.DATETIME(storage_format=SQLITE_STORAGE_FORMAT))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: Filas stores instants, give it a time zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite: the digits are UTC (process_bind_param wrote them)
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
