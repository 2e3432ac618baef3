"""How the templates show times and ages."""

from datetime import date, datetime
from typing import Any

from filas_api.ops.blueprint import bp


@bp.app_template_filter("ops_when")
def when(value: datetime | date | str | None) -> str:
    if not value:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return value.isoformat()  # a day
    return value.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


@bp.app_template_filter("ops_value")
def shown(value: Any) -> str:
    """A field's value in words: yes/no, times, mappings as name=value pairs."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "sim" if value else "não"
    if isinstance(value, date | datetime):
        return when(value)
    if isinstance(value, dict):
        return ", ".join(f"{name}={shown(item)}" for name, item in value.items()) or "—"
    return str(value)


@bp.app_template_filter("ops_age")
def age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@bp.app_template_filter("ops_short")
def short(job_id: str) -> str:
    """The first block of a uuid: enough to tell jobs apart in a list."""
    return job_id.split("-", 1)[0]
