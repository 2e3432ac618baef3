"""URL converters for ids, so that an id the database or the broker could never have issued is a 404
before any view runs (no overflowing integer reaches PostgreSQL, no garbage reaches Redis).

Registered by the app factory; each one says how the OpenAPI document describes it (`openapi_schema`).
"""

from typing import Any, ClassVar

from werkzeug.routing import BaseConverter, ValidationError

# PostgreSQL `integer` (the type of every primary key): 1 .. 2**31 - 1.
DB_ID_MAX = 2_147_483_647


class DbIdConverter(BaseConverter):
    """`<db_id:name>`: a row id, 1..2147483647, as an int."""

    regex = r"[0-9]{1,10}"
    part_isolating = True
    openapi_schema: ClassVar[dict[str, Any]] = {"type": "integer", "minimum": 1, "maximum": DB_ID_MAX}

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 1 <= number <= DB_ID_MAX:
            raise ValidationError()
        return number

    def to_url(self, value: Any) -> str:
        return str(int(value))


class MessageIdConverter(BaseConverter):
    """`<message_id:name>`: a job or task id (a Dramatiq message id, a uuid4), as its canonical string.

    Unlike werkzeug's `uuid` converter it hands the view a `str` (the id is stored and compared as text)."""

    regex = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
    part_isolating = True
    openapi_schema: ClassVar[dict[str, Any]] = {"type": "string", "format": "uuid"}

    def to_python(self, value: str) -> str:
        return value.lower()


CONVERTERS: dict[str, type[BaseConverter]] = {"db_id": DbIdConverter, "message_id": MessageIdConverter}


def register_converters(url_map) -> None:
    """Before any blueprint is registered: rules are compiled when they are added."""
    url_map.converters.update(CONVERTERS)
