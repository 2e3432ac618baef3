from datetime import datetime, timezone


def utcnow() -> datetime:
    """Timezone-aware now; every timestamp Filas stores is UTC."""
    return datetime.now(timezone.utc)
