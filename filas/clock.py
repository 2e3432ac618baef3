from datetime import UTC, datetime


def utcnow() -> datetime:
    """Timezone-aware now; every timestamp Filas stores is UTC."""
    return datetime.now(UTC)
