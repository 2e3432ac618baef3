"""Request bodies parsed into pydantic models; a ValidationError becomes a 400 (see errors.py)."""

from typing import TypeVar

from flask import request
from pydantic import BaseModel

from filas_api.errors import ApiError

Model = TypeVar("Model", bound=BaseModel)


def parse_body(model: type[Model]) -> Model:
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "o corpo deve ser um objeto JSON (Content-Type: application/json)")
    if not isinstance(body, dict):
        raise ApiError(400, "o corpo deve ser um objeto JSON")
    return model.model_validate(body)
