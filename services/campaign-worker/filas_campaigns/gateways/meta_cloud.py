"""WhatsApp through Meta's WhatsApp Cloud API (Graph API): template and text messages.

    POST {base_url}/{version}/{phone_number_id}/messages   Authorization: Bearer <access token>
        {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "5585999990001",
         "type": "template", "template": {"name", "language": {"code"}, "components": [body parameters]},
         "biz_opaque_callback_data": "<our message id>"}                          (or "type": "text")
        -> 200 {"messaging_product", "contacts": [{"input", "wa_id"}], "messages": [{"id": "wamid..."}]}
    errors -> {"error": {"message", "type", "code", "error_data": {"details"}, "fbtrace_id"}}

The Cloud API has no number check: a number is known to be valid or not by its delivery status webhook
(131026 "undeliverable"). Nor can it look a message up: a send cut off mid-request is resolved by the status
webhook, which echoes `biz_opaque_callback_data` (our message id). Text outside the 24 h window after the
patient last wrote is refused (131047): campaigns name an approved template.

The Graph API answers most errors with HTTP 400 and says what happened in `error.code`
(https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes): the mapping reads the code
first, the HTTP status second.
"""

import logging
from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx

from filas_campaigns.gateways.base import (
    GatewayError,
    GatewayPermanentError,
    GatewayTransientError,
    LookupUnsupported,
    NumberStatus,
    OutgoingMessage,
    RecipientRejected,
    SentMessage,
    mask_phone,
    mask_phones_in,
)
from filas_campaigns.gateways.http import may_have_arrived, retry_after_seconds

logger = logging.getLogger(__name__)

MAX_DETAIL_CHARS = 300
MAX_CALLBACK_DATA_CHARS = 512  # the Cloud API's limit on biz_opaque_callback_data

# Worth retrying: throughput (130429), pair rate (131056: ~1 message per 6 s to one user), spam rate (131048),
# app/account rate limits (4, 80007), service unavailable (131000, 131016, 133004), temporary (1, 2).
TRANSIENT_CODES = frozenset({1, 2, 4, 80007, 130429, 131000, 131016, 131048, 131056, 133004})
# When the answer carries no Retry-After: how long these limits ask us to wait.
DEFAULT_RETRY_AFTER = {130429: 1.0, 131056: 6.0}
# This recipient cannot get this message; the sender and the request are fine.
RECIPIENT_PROBLEMS = {
    131026: "cannot receive WhatsApp messages (131026: undeliverable)",
    131030: "is not in the allowed list of this test number (131030)",
    131047: "is outside the 24 h window after the patient last wrote (131047): only an approved template "
            "can be sent (name one in the campaign)",
    131021: "is the sending number itself (131021)",
}
INVALID_PARAMETER = 100
# Invalid parameter: a recipient problem when its message or details name the recipient.
INVALID_PARAMETER_CODES = frozenset({INVALID_PARAMETER, 131009})
RECIPIENT_WORDS = ("phone", "recipient", "'to'", '"to"', "wa_id")
INVALID_TOKEN = 190


class MetaCloudGateway:
    """A WhatsAppGateway on one Cloud API sending number. Thread-safe (one pooled httpx.Client)."""

    checks_numbers = False
    looks_up_sends = False
    default_rate_per_second = 80.0  # the Cloud API's default throughput per number

    def __init__(
        self,
        base_url: str,
        access_token: str,
        phone_number_id: str,
        api_version: str = "v21.0",
        timeout: float = 15.0,
    ) -> None:
        if not base_url or not access_token or not phone_number_id or not api_version:
            raise ValueError("Meta Cloud API gateway needs base_url, access_token, phone_number_id and api_version")
        self.base_url = base_url
        self.phone_number_id = phone_number_id
        self.api_version = api_version
        self.sender = f"meta:{phone_number_id}"
        self.timeout = timeout
        self._path = f"{quote(api_version, safe='')}/{quote(phone_number_id, safe='')}/messages"
        self._client = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {access_token}", "User-Agent": "filas-campaigns"},
            timeout=timeout,
        )

    def __repr__(self) -> str:  # never shows the access token
        return f"MetaCloudGateway(base_url={self.base_url!r}, phone_number_id={self.phone_number_id!r})"

    # --- WhatsAppGateway -----------------------------------------------------------------------

    def check_numbers(self, numbers: Sequence[str]) -> list[NumberStatus]:
        """The Cloud API cannot check numbers: every well-formed number is answered `exists=True` with no
        whatsapp_id (it is learnt from the send's answer), malformed ones `exists=False`. Numbers without
        WhatsApp are found by their delivery status (131026), which marks the contact invalid."""
        return [NumberStatus(number=number, exists=_digits(number) is not None, whatsapp_id=None) for number in numbers]

    def send_message(self, number: str, message: OutgoingMessage) -> SentMessage:
        """The template `message` names, with its body parameters; its text when it names none."""
        target = _digits(number)
        if target is None:
            raise RecipientRejected(f"{mask_phone(number)} is not a valid WhatsApp number", number=number)
        response = self._post(_payload(target, message))
        error = _error_for(response, number)
        if error is not None:
            raise error
        sent = _sent_message(response)
        logger.debug("sent message %s to %s", sent.gateway_message_id, mask_phone(target))
        return sent

    def find_sent(self, number: str, message: OutgoingMessage, since: datetime) -> SentMessage | None:
        raise LookupUnsupported(
            "the Cloud API cannot look a sent message up: its status webhook (which echoes our message id in "
            "biz_opaque_callback_data) resolves a send cut off mid-request"
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- HTTP ----------------------------------------------------------------------------------

    def _post(self, payload: dict[str, Any]) -> httpx.Response:
        """POST a message; transport failures become GatewayTransientError."""
        try:
            return self._client.post(self._path, json=payload)
        except httpx.UnsupportedProtocol as error:
            raise GatewayPermanentError(f"bad Cloud API URL {self.base_url!r}: {error}") from error
        except httpx.TimeoutException as error:
            raise GatewayTransientError(
                f"Cloud API send timed out after {self.timeout} s ({type(error).__name__})",
                outcome_unknown=may_have_arrived(error),
            ) from error
        except httpx.TransportError as error:
            raise GatewayTransientError(
                f"Cloud API send failed: {type(error).__name__}", outcome_unknown=may_have_arrived(error)
            ) from error


# --- requests -----------------------------------------------------------------------------------


def _digits(number: str) -> str | None:
    """E.164 digits of a number, +number, wa_id or jid (another gateway's id); None if not a phone number."""
    digits = number.strip().partition("@")[0].removeprefix("+")
    return digits if digits.isdigit() and 8 <= len(digits) <= 15 else None


def _payload(to: str, message: OutgoingMessage) -> dict[str, Any]:
    payload: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
    if message.template:
        payload |= {"type": "template", "template": _template(message)}
    else:
        payload |= {"type": "text", "text": {"preview_url": False, "body": message.text}}
    if message.reference:
        payload["biz_opaque_callback_data"] = message.reference[:MAX_CALLBACK_DATA_CHARS]
    return payload


def _template(message: OutgoingMessage) -> dict[str, Any]:
    template: dict[str, Any] = {"name": message.template, "language": {"code": message.language}}
    if message.parameters:
        parameters = [{"type": "text", "text": value} for value in message.parameters]
        template["components"] = [{"type": "body", "parameters": parameters}]
    return template


# --- answers ------------------------------------------------------------------------------------


def _sent_message(response: httpx.Response) -> SentMessage:
    body = _json(response)
    messages = body.get("messages") if isinstance(body, dict) else None
    first = messages[0] if isinstance(messages, list) and messages and isinstance(messages[0], dict) else {}
    message_id = first.get("id")
    if not isinstance(message_id, str) or not message_id:
        raise GatewayPermanentError("unexpected Cloud API answer: no messages[0].id")
    contacts = body.get("contacts")
    contact = contacts[0] if isinstance(contacts, list) and contacts and isinstance(contacts[0], dict) else {}
    wa_id = contact.get("wa_id")
    return SentMessage(gateway_message_id=message_id, whatsapp_id=wa_id if isinstance(wa_id, str) else None)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as error:
        raise GatewayPermanentError(
            f"unexpected Cloud API answer: not JSON (HTTP {response.status_code})", status_code=response.status_code
        ) from error


# --- errors -------------------------------------------------------------------------------------


def _error_for(response: httpx.Response, number: str) -> GatewayError | None:
    status = response.status_code
    if status < 300:
        return None
    error = _graph_error(response)
    code = error.get("code") if isinstance(error.get("code"), int) else None
    coded = f" (code {code})" if code is not None else ""
    described = f"Cloud API answered {status}{coded}: {_detail(error, response)}"
    if code == INVALID_TOKEN or status in (401, 403):
        return GatewayPermanentError(f"the Cloud API refused the access token (or its permissions); {described}",
                                     status_code=status)
    if code == INVALID_PARAMETER and "does not exist" in str(error.get("message", "")):
        return GatewayPermanentError(f"wrong phone number id (FILAS_META_PHONE_NUMBER_ID); {described}",
                                     status_code=status)
    if code in RECIPIENT_PROBLEMS or (code in INVALID_PARAMETER_CODES and _names_the_recipient(error)):
        problem = RECIPIENT_PROBLEMS.get(code, f"is not a valid recipient ({code})")
        return RecipientRejected(f"{mask_phone(number)} {problem}; {described}", status_code=status, number=number)
    if code in TRANSIENT_CODES or status == 429 or status >= 500:
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        if retry_after is None and code is not None:
            retry_after = DEFAULT_RETRY_AFTER.get(code)
        return GatewayTransientError(described, status_code=status, retry_after=retry_after)
    return GatewayPermanentError(described, status_code=status)


def _graph_error(response: httpx.Response) -> dict[str, Any]:
    """The Graph error object, or {} when the body is not one (a proxy's HTML page)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _details(error: dict[str, Any]) -> str:
    data = error.get("error_data")
    details = data.get("details") if isinstance(data, dict) else None
    return details if isinstance(details, str) else ""


def _names_the_recipient(error: dict[str, Any]) -> bool:
    text = f"{error.get('message', '')} {_details(error)}".lower()
    return any(word in text for word in RECIPIENT_WORDS)


def _detail(error: dict[str, Any], response: httpx.Response) -> str:
    parts = [str(error.get("message") or response.reason_phrase), _details(error)]
    trace = error.get("fbtrace_id")
    if isinstance(trace, str):
        parts.append(f"fbtrace_id {trace}")
    return mask_phones_in(" — ".join(part for part in parts if part))[:MAX_DETAIL_CHARS]
