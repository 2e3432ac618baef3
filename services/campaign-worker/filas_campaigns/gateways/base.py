"""What the campaign worker needs from a WhatsApp gateway, whichever gateway it is.

Numbers are E.164 digits without "+" (e.g. "5585999990001"). A gateway may know a number by another
id (Evolution's jid, Z-API's outputPhone, Meta's wa_id; in Brazil often without the 9th digit): keep
`whatsapp_id` next to the number, it is how replies and status updates name the contact.

Gateways differ in what they can do, and say so: `checks_numbers` (False for the Cloud API, which has no
number check: its numbers are validated by delivery status) and `looks_up_sends` (whether `find_sent`
can tell if a message cut off mid-send left).

Errors say what to do next:
  GatewayTransientError   retry later (429, 5xx, timeouts, connection errors); honour `retry_after`.
  GatewayPermanentError   retrying will not help (wrong key, unknown instance, bad request): stop, alert.
  RecipientRejected       this one recipient cannot receive (no WhatsApp, invalid number): mark it, go on.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from filas.errors import FilasError
from filas.phones import mask


@dataclass(frozen=True)
class NumberStatus:
    number: str  # as asked
    exists: bool
    whatsapp_id: str | None  # the gateway's id for it when it exists


@dataclass(frozen=True)
class OutgoingMessage:
    """One message for one contact, as each gateway needs it: Evolution sends `text`; the Cloud API sends
    the approved `template` (in `language`, with body `parameters` in order), or `text` when none is named
    (accepted only inside the 24 h window after the patient wrote)."""

    text: str
    template: str | None = None
    language: str = "pt_BR"
    parameters: tuple[str, ...] = ()
    reference: str = ""  # our id for it (the message row), echoed by status webhooks where the gateway can


@dataclass(frozen=True)
class SentMessage:
    gateway_message_id: str
    whatsapp_id: str | None  # who the gateway actually sent it to


# Exceptions keep `message` as their only positional argument so that they pickle (Exception's
# default reduce) with their extra attributes.


class GatewayError(FilasError):
    """A gateway call failed."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class GatewayTransientError(GatewayError):
    """Worth retrying later.

    `retry_after`: seconds the gateway asked us to wait, if it said.
    `outcome_unknown`: the request may have reached the gateway before the failure (e.g. a read
    timeout on a send), so a retry may deliver the message twice.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after
        self.outcome_unknown = outcome_unknown


class GatewayPermanentError(GatewayError):
    """Retrying will not help: configuration (key, instance, URL) or a request the gateway refuses."""


class RecipientRejected(GatewayPermanentError):
    """This recipient cannot receive WhatsApp messages (no WhatsApp account, invalid number)."""

    def __init__(self, message: str, *, status_code: int | None = None, number: str | None = None) -> None:
        super().__init__(message, status_code=status_code)
        self.number = number


class LookupUnsupported(GatewayError):
    """This gateway cannot tell whether a message left (find_sent): wait for its status webhook."""


@runtime_checkable
class WhatsAppGateway(Protocol):
    checks_numbers: bool
    looks_up_sends: bool
    sender: str  # the sending number's name at this gateway (instance, phone number id): the rate limit's key
    default_rate_per_second: float

    def check_numbers(self, numbers: Sequence[str]) -> list[NumberStatus]:
        """One status per number asked, in the same order (duplicates included)."""
        ...

    def send_message(self, number: str, message: OutgoingMessage) -> SentMessage:
        """Send to an E.164 number or to a gateway id returned by check_numbers."""
        ...

    def find_sent(self, number: str, message: OutgoingMessage, since: datetime) -> SentMessage | None:
        """The message sent to `number` since `since` with `message`'s content, if the gateway holds it;
        None if it surely did not leave. Raises LookupUnsupported where the gateway cannot tell."""
        ...

    def close(self) -> None: ...


_LONG_DIGIT_RUN = re.compile(r"\d{8,}")


def mask_phone(number: str) -> str:
    """'5585999990001' -> '*********0001', '558599990001@s.whatsapp.net' -> '********0001@s.whatsapp.net'."""
    user, at, domain = number.partition("@")
    return mask(user) + at + domain


def mask_phones_in(text: str) -> str:
    """Mask every run of 8+ digits (phone numbers, jids) inside a free text."""
    return _LONG_DIGIT_RUN.sub(lambda match: mask_phone(match.group()), text)
