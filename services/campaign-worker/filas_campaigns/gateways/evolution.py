"""WhatsApp through Evolution API v2 (https://doc.evolution-api.com): number checks and text messages.

    POST /chat/whatsappNumbers/{instance} {"numbers": [...]} -> [{"jid", "exists", "number"}, ...]
    POST /message/sendText/{instance} {"number", "text", "delay"?} -> 201 {"key": {"remoteJid", "id"}, ...}
    POST /chat/findMessages/{instance} {"where": {"key": {"remoteJid"}}}
        -> {"messages": {"records": [{"key": {"id", "fromMe", "remoteJid"}, "message", "messageTimestamp"}]}}

Evolution resolves Brazilian numbers with and without the 9th digit and answers with the jid WhatsApp
knows, which for old accounts lacks the 9th digit (5585999990001 -> 558599990001@s.whatsapp.net); answers
are matched back to the numbers asked by their "number" field or, failing that, by that jid.
"""

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx

from filas_campaigns.gateways.base import (
    GatewayError,
    GatewayPermanentError,
    GatewayTransientError,
    NumberStatus,
    OutgoingMessage,
    RecipientRejected,
    SentMessage,
    mask_phone,
    mask_phones_in,
)
from filas_campaigns.gateways.http import may_have_arrived, retry_after_seconds

logger = logging.getLogger(__name__)

# Some Evolution versions ask WhatsApp about each number of a request in turn; 50 numbers per request
# keeps one call well inside the default 15 s timeout.
DEFAULT_BATCH_SIZE = 50
TRANSIENT_STATUSES = frozenset({408, 425, 429})
JID_SUFFIX = "@s.whatsapp.net"
# Clocks differ between Evolution and us: a message stamped this much before its claim still matches.
LOOKUP_CLOCK_SLACK_SECONDS = 120
MAX_DETAIL_CHARS = 300


class EvolutionGateway:
    """A WhatsAppGateway on one Evolution instance. Thread-safe (one pooled httpx.Client)."""

    checks_numbers = True
    looks_up_sends = True
    # Evolution has no limit of its own; WhatsApp bans a number that blasts. One a second is a cautious start.
    default_rate_per_second = 1.0

    def __init__(
        self,
        base_url: str,
        api_key: str,
        instance: str,
        timeout: float = 15.0,
        batch_size: int = DEFAULT_BATCH_SIZE,
        *,
        send_delay_ms: int | None = None,
    ) -> None:
        """`send_delay_ms`: Evolution shows "typing..." this long before sending (and answers after it)."""
        if not base_url or not api_key or not instance:
            raise ValueError("Evolution gateway needs base_url, api_key and instance")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.base_url = base_url
        self.instance = instance
        self.sender = f"evolution:{instance}"
        self.timeout = timeout
        self.batch_size = batch_size
        self.send_delay_ms = send_delay_ms
        self._client = httpx.Client(
            base_url=base_url,
            headers={"apikey": api_key, "User-Agent": "filas-campaigns"},
            timeout=timeout,
        )

    def __repr__(self) -> str:  # never shows the api key
        return f"EvolutionGateway(base_url={self.base_url!r}, instance={self.instance!r})"

    # --- WhatsAppGateway -----------------------------------------------------------------------

    def check_numbers(self, numbers: Sequence[str]) -> list[NumberStatus]:
        """One status per number, in order. Malformed numbers are answered `exists=False` without asking."""
        asked = list(dict.fromkeys(d for d in map(_digits, numbers) if d is not None))
        found: dict[str, NumberStatus] = {}
        for batch in _batches(asked, self.batch_size):
            found |= self._check_batch(batch)
        logger.debug("checked %d numbers in batches of %d", len(asked), self.batch_size)
        return [_status_for(number, found) for number in numbers]

    def send_message(self, number: str, message: OutgoingMessage) -> SentMessage:
        """Send `message.text` to E.164 digits or to a jid returned by check_numbers."""
        target = _send_target(number)
        if target is None:
            raise RecipientRejected(f"{mask_phone(number)} is not a valid WhatsApp number", number=number)
        payload: dict[str, Any] = {"number": target, "text": message.text}
        if self.send_delay_ms:
            payload["delay"] = self.send_delay_ms
        response = self._post("message/sendText", payload, operation="sendText", sending=True)
        if response.status_code == 400 and _says_no_whatsapp(response):
            raise RecipientRejected(f"{mask_phone(number)} has no WhatsApp", status_code=400, number=number)
        _raise_for_status(response, "sendText")
        sent = _sent_message(_json(response, "sendText"))
        logger.debug("sent message %s to %s", sent.gateway_message_id, mask_phone(target))
        return sent

    def find_sent(self, number: str, message: OutgoingMessage, since: datetime) -> SentMessage | None:
        """Our message with this text in the chat with `number` (its jid, or the number's), sent since `since`."""
        target = _send_target(number)
        if target is None:
            return None
        remote_jid = target if "@" in target else f"{target}{JID_SUFFIX}"
        response = self._post("chat/findMessages", {"where": {"key": {"remoteJid": remote_jid}}},
                              operation="findMessages")
        _raise_for_status(response, "findMessages")
        for record in _message_records(_json(response, "findMessages")):
            if _is_our_send(record, message.text, since):
                key = record["key"]
                return SentMessage(gateway_message_id=key["id"], whatsapp_id=key.get("remoteJid"))
        return None

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- HTTP ----------------------------------------------------------------------------------

    def _check_batch(self, batch: list[str]) -> dict[str, NumberStatus]:
        response = self._post("chat/whatsappNumbers", {"numbers": batch}, operation="whatsappNumbers")
        _raise_for_status(response, "whatsappNumbers")
        return _match_answers(batch, _json(response, "whatsappNumbers"))

    def _post(self, route: str, payload: dict[str, Any], *, operation: str, sending: bool = False) -> httpx.Response:
        """POST to `route`/{instance}; transport failures become GatewayTransientError."""
        url = f"{route}/{quote(self.instance, safe='')}"
        try:
            return self._client.post(url, json=payload)
        except httpx.UnsupportedProtocol as error:
            raise GatewayPermanentError(f"bad Evolution API URL {self.base_url!r}: {error}") from error
        except httpx.TimeoutException as error:
            raise GatewayTransientError(
                f"Evolution API {operation} timed out after {self.timeout} s ({type(error).__name__})",
                outcome_unknown=sending and may_have_arrived(error),
            ) from error
        except httpx.TransportError as error:
            raise GatewayTransientError(
                f"Evolution API {operation} failed: {type(error).__name__}",
                outcome_unknown=sending and may_have_arrived(error),
            ) from error


# --- numbers ------------------------------------------------------------------------------------


def _digits(number: str) -> str | None:
    """E.164 digits of a number given as digits or +digits; None if it cannot be a phone number."""
    digits = number.strip().removeprefix("+")
    return digits if digits.isdigit() and 8 <= len(digits) <= 15 else None


def _send_target(number: str) -> str | None:
    """What sendText accepts: E.164 digits, or a jid (kept as is, it is the gateway's own id)."""
    user, at, domain = number.strip().partition("@")
    if at:
        return number.strip() if _digits(user) and domain else None
    return _digits(number)


def _user_digits(value: Any) -> str | None:
    """Digits of a number or of a jid's user part, as found in an answer."""
    return _digits(value.partition("@")[0]) if isinstance(value, str) else None


def _brazilian_variants(number: str) -> list[str]:
    """The same Brazilian mobile with/without its 9th digit (55 DD 9XXXXXXXX <-> 55 DD XXXXXXXX)."""
    if not number.startswith("55"):
        return []
    area, local = number[:4], number[4:]
    if len(local) == 9 and local[0] == "9":
        return [area + local[1:]]
    if len(local) == 8 and local[0] in "6789":
        return [area + "9" + local]
    return []


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _status_for(number: str, found: dict[str, NumberStatus]) -> NumberStatus:
    digits = _digits(number)
    status = found.get(digits) if digits else None
    if status is None:
        return NumberStatus(number=number, exists=False, whatsapp_id=None)
    return NumberStatus(number=number, exists=status.exists, whatsapp_id=status.whatsapp_id)


# --- answers ------------------------------------------------------------------------------------


def _match_answers(batch: list[str], answer: Any) -> dict[str, NumberStatus]:
    """Map Evolution's answer (any order) back to the numbers of `batch`."""
    if not isinstance(answer, list) or not all(isinstance(item, dict) for item in answer):
        raise GatewayPermanentError("unexpected whatsappNumbers answer: not a list of objects")
    owner_of = _owners(batch)
    found: dict[str, NumberStatus] = {}
    for item in answer:
        number = _owner(item, set(batch), owner_of)
        if number is not None and number not in found:
            jid = item.get("jid")
            exists = bool(item.get("exists")) and isinstance(jid, str)
            found[number] = NumberStatus(number=number, exists=exists, whatsapp_id=jid if exists else None)
    missing = len(batch) - len(found)
    if missing:
        raise GatewayPermanentError(f"whatsappNumbers answer left {missing} of {len(batch)} numbers out")
    return found


def _owners(batch: list[str]) -> dict[str, str]:
    """Every alternative form of each asked number -> the number asked."""
    owners: dict[str, str] = {}
    for number in batch:
        for variant in _brazilian_variants(number):
            owners.setdefault(variant, number)
    return owners


def _owner(item: dict[str, Any], asked: set[str], owner_of: dict[str, str]) -> str | None:
    """Which asked number an answer is about: its "number" echo first, then its jid, exact before variant."""
    candidates = [c for c in (_user_digits(item.get("number")), _user_digits(item.get("jid"))) if c]
    for candidate in candidates:
        if candidate in asked:
            return candidate
    for candidate in candidates:
        if candidate in owner_of:
            return owner_of[candidate]
    return None


def _says_no_whatsapp(response: httpx.Response) -> bool:
    """Evolution's 400 for sendText lists [{"exists": false, ...}] when the number has no WhatsApp."""
    messages = _error_messages(response)
    return any(isinstance(item, dict) and item.get("exists") is False for item in messages)


def _sent_message(body: Any) -> SentMessage:
    key = body.get("key") if isinstance(body, dict) else None
    message_id = key.get("id") if isinstance(key, dict) else None
    if not isinstance(message_id, str) or not message_id:
        raise GatewayPermanentError("unexpected sendText answer: no key.id")
    remote_jid = key.get("remoteJid")
    return SentMessage(gateway_message_id=message_id, whatsapp_id=remote_jid if isinstance(remote_jid, str) else None)


def _message_records(body: Any) -> list[dict[str, Any]]:
    messages = body.get("messages") if isinstance(body, dict) else None
    records = messages.get("records") if isinstance(messages, dict) else body if isinstance(body, list) else None
    if not isinstance(records, list):
        raise GatewayPermanentError("unexpected findMessages answer: no messages.records")
    return [record for record in records if isinstance(record, dict)]


def _is_our_send(record: dict[str, Any], text: str, since: datetime) -> bool:
    key = record.get("key")
    if not isinstance(key, dict) or not key.get("fromMe") or not isinstance(key.get("id"), str):
        return False
    content = record.get("message") if isinstance(record.get("message"), dict) else {}
    extended = content.get("extendedTextMessage") if isinstance(content.get("extendedTextMessage"), dict) else {}
    if text not in (content.get("conversation"), extended.get("text")):
        return False
    stamp = record.get("messageTimestamp")
    if not isinstance(stamp, int | float):
        return True  # no time to compare: the same text to the same chat is taken as ours
    return stamp >= since.timestamp() - LOOKUP_CLOCK_SLACK_SECONDS


def _json(response: httpx.Response, operation: str) -> Any:
    try:
        return response.json()
    except ValueError as error:
        raise GatewayPermanentError(
            f"unexpected {operation} answer: not JSON (HTTP {response.status_code})", status_code=response.status_code
        ) from error


# --- errors -------------------------------------------------------------------------------------


def _raise_for_status(response: httpx.Response, operation: str) -> None:
    error = _error_for(response, operation)
    if error is not None:
        raise error


def _error_for(response: httpx.Response, operation: str) -> GatewayError | None:
    status = response.status_code
    if status < 300:
        return None
    message = f"Evolution API answered {status} to {operation}: {_detail(response)}"
    if status in TRANSIENT_STATUSES or status >= 500:
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        return GatewayTransientError(message, status_code=status, retry_after=retry_after)
    return GatewayPermanentError(message, status_code=status)


def _error_messages(response: httpx.Response) -> list[Any]:
    """Evolution errors look like {"status", "error", "response": {"message": [...] or "..."}}."""
    try:
        body = response.json()
    except ValueError:
        return []
    inner = body.get("response") if isinstance(body, dict) else None
    message = inner.get("message") if isinstance(inner, dict) else None
    if message is None:
        return []
    return message if isinstance(message, list) else [message]


def _detail(response: httpx.Response) -> str:
    messages = _error_messages(response)
    detail = "; ".join(str(item) for item in messages) if messages else response.reason_phrase
    return mask_phones_in(detail)[:MAX_DETAIL_CHARS]
