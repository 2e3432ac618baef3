"""Request bodies parsed into pydantic models; a ValidationError becomes a 400 (see errors.py)."""

from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel

from filas_api.errors import ApiError

Model = TypeVar("Model", bound=BaseModel)


def parse_body(model: type[Model]) -> Model:
    return model.model_validate(json_object())


def json_object() -> dict[str, Any]:
    """The request body as a JSON object, or a 400 saying why not (a body over the size limit is a 413)."""
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # nested deeper than the parser goes: not a body any client of ours sends
        raise ApiError(400, "o corpo JSON tem aninhamento profundo demais") from None
    if body is None:
        raise ApiError(400, "o corpo deve ser um objeto JSON (Content-Type: application/json)")
    if not isinstance(body, dict):
        raise ApiError(400, "o corpo deve ser um objeto JSON")
    return body
