"""Idempotency-Key on booking requests: a request sent again with the same key (a retry after a timeout,
a double click) gets the integration and job of the first one, never a second booking.

The key is written in the transaction that creates the integration (filas.db.models.IdempotencyKey):
a concurrent request with the same key waits on the primary key until that transaction ends, then
finds the key and replays it; if that transaction was refused (409), the key was never stored.
"""

import hashlib
import json
import re

from flask import request
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from filas.db.models import IdempotencyKey
from filas_api.errors import ApiError

HEADER = "Idempotency-Key"
MAX_LENGTH = 200  # the column's size
_VALID_KEY = re.compile(rf"[\x21-\x7e]{{1,{MAX_LENGTH}}}")  # visible ASCII, e.g. a UUID


class AlreadyAccepted(Exception):
    """The key was used before, with the same body: answer with that request's ids."""

    def __init__(self, booking_id: int, job_id: str):
        super().__init__(booking_id, job_id)
        self.booking_id = booking_id
        self.job_id = job_id


def requested_key() -> str | None:
    """The request's Idempotency-Key, or None; a malformed one is a 400 naming the header."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not _VALID_KEY.fullmatch(key):
        raise ApiError(400, f"cabeçalho {HEADER} inválido: use de 1 a {MAX_LENGTH} caracteres ASCII visíveis, "
                            "sem espaços (por exemplo, um UUID)")
    return key


def claim(session: Session, key: str, body: BaseModel) -> IdempotencyKey:
    """Take the key in this transaction, or raise AlreadyAccepted (same body) or a 422 (another body)."""
    fingerprint = _fingerprint(body)
    claimed = IdempotencyKey(chave=key, corpo_hash=fingerprint)
    session.add(claimed)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        _raise_for_earlier(session.get(IdempotencyKey, key), fingerprint)
    return claimed


def _raise_for_earlier(earlier: IdempotencyKey | None, fingerprint: str) -> None:
    if earlier is None or earlier.booking_id is None or earlier.job_id is None:
        # Its integration was deleted (the key went with it by cascade) between our insert and our read.
        raise ApiError(409, f"a {HEADER} está sendo usada por outra requisição; tente novamente")
    if earlier.corpo_hash != fingerprint:
        raise ApiError(422, f"esta {HEADER} já foi usada com outro corpo (integração {earlier.booking_id}); "
                            "para outro agendamento, use uma chave nova", integracao_id=earlier.booking_id)
    raise AlreadyAccepted(earlier.booking_id, earlier.job_id)


def _fingerprint(body: BaseModel) -> str:
    """The validated body, so that spacing or field order does not make a repeat look different."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
