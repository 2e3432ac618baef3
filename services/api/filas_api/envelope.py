"""The two response dialects the front end already speaks.

Portal endpoints answer `{"success": ..., "message": ...}` (the RQ system's contract); campaign and
task endpoints answer `{"sucesso": ..., "erro": ...}` (the Celery system's contract).
"""

from typing import Any

from flask import request

PORTAL_BLUEPRINT = "portal"


def uses_portal_dialect() -> bool:
    return request.blueprint == PORTAL_BLUEPRINT


def ok(**body: Any) -> dict[str, Any]:
    key = "success" if uses_portal_dialect() else "sucesso"
    return {key: True, **body}


def error(message: str, **extra: Any) -> dict[str, Any]:
    if uses_portal_dialect():
        return {"success": False, "message": message, **extra}
    return {"sucesso": False, "erro": message, **extra}
