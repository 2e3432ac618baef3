"""Request bodies of the HTTP contract (field names are the front end's, in Portuguese).

The OpenAPI document (docs.py) is generated from these models: every limit here is also the contract.
String limits are the sizes of the database columns the values go to (filas/db/models.py)."""

import datetime as dt
import re
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from filas import clock
from filas.phones import InvalidPhone, normalize_br
from filas.settings import get_settings

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
# As typed by a person ("+55 (85) 99999-0001"); stored normalised, as E.164 digits (at most 15).
PhoneText = Annotated[Text, StringConstraints(max_length=40)]

UNSTORABLE = "contém caracteres que não podem ser gravados (byte nulo \\x00 ou surrogate UTF-16 isolado)"


def storable(value: Any) -> Any:
    """PostgreSQL text cannot hold NUL, and UTF-8 cannot encode a lone surrogate ("\\ud800", which JSON
    allows): refuse them as bad input naming the field, before they reach the database or a log."""
    if isinstance(value, str) and ("\x00" in value or not _encodes_as_utf8(value)):
        raise ValueError(UNSTORABLE)
    return value


def _encodes_as_utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class StorableText(BaseModel):
    """No string field of a request body may hold unstorable text: every model below inherits this."""

    @field_validator("*", mode="before")
    @classmethod
    def storable_text(cls, value: Any) -> Any:
        return storable(value)


class Body(StorableText):
    """A body our front end sends: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


def _iso_date_text(value: Any) -> Any:
    """Only the documented form, YYYY-MM-DD (pydantic alone would also take timestamps and datetimes)."""
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        raise ValueError("use uma data no formato AAAA-MM-DD")
    return value


def today_where_bookings_happen() -> dt.date:
    """Today in settings.schedule_timezone (America/Fortaleza), wherever the server's clock is set."""
    return clock.utcnow().astimezone(ZoneInfo(get_settings().schedule_timezone)).date()


class BookingRequest(Body):
    lote_id: Annotated[Text, StringConstraints(max_length=80)]
    data_agendamento: Annotated[dt.date, BeforeValidator(_iso_date_text)] = Field(
        description="YYYY-MM-DD; today or later in America/Fortaleza"
    )
    hora_agendamento: Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] = Field(
        description="HH:MM"
    )
    transportadora: Annotated[Text, StringConstraints(max_length=200)] = Field(
        description="The carrier as the portal lists it: its code or its name (e.g. \"Agregado\"); case and "
        "accents ignored. One the portal does not offer fails the job, its message listing the portal's options"
    )
    tipo_veiculo: Annotated[Text, StringConstraints(max_length=40)] = Field(
        description="The portal's vehicle type: its code (e.g. \"11\") or its name (e.g. \"Truck\"); case and "
        "accents ignored. One the portal does not offer fails the job, its message listing the portal's options"
    )

    @field_validator("data_agendamento")
    @classmethod
    def not_in_the_past(cls, value: dt.date) -> dt.date:
        if value < today_where_bookings_happen():
            raise ValueError("a data do agendamento já passou")
        return value


class ContactIn(Body):
    nome: Annotated[Text, StringConstraints(max_length=200)]
    telefone: PhoneText = Field(description="Brazilian number in any usual format, e.g. (85) 99999-0001")

    @field_validator("telefone")
    @classmethod
    def valid_phone(cls, value: str) -> str:
        try:
            return normalize_br(value)
        except InvalidPhone as error:
            raise ValueError(str(error)) from None


class CampaignCreate(Body):
    nome: Annotated[Text, StringConstraints(max_length=200)]
    mensagem: Annotated[Text, StringConstraints(max_length=4096)]
    mensagem_follow_up: Annotated[Text, StringConstraints(max_length=4096)] | None = None
    contacts: list[ContactIn] = Field(alias="contatos", min_length=1, max_length=50_000)

    @model_validator(mode="after")
    def no_repeated_numbers(self) -> "CampaignCreate":
        seen: dict[str, int] = {}
        for index, contact in enumerate(self.contacts):
            if contact.telefone in seen:
                raise ValueError(f"contatos[{index}].telefone repete o número de contatos[{seen[contact.telefone]}]")
            seen[contact.telefone] = index
        return self


class OptOutIn(Body):
    telefone: PhoneText = Field(description="Brazilian number in any usual format, e.g. (85) 99999-0001")
    motivo: Annotated[str, StringConstraints(max_length=500)] | None = None

    @field_validator("telefone")
    @classmethod
    def valid_phone(cls, value: str) -> str:
        return ContactIn.valid_phone(value)


# --- gateway webhooks: only the fields Filas reads; the gateway sends many more, which are ignored --------

class GatewayEvent(StorableText):
    model_config = ConfigDict(extra="ignore")


class EvolutionEnvelope(GatewayEvent):
    """Any Evolution API event: only `event` is read before deciding whether it matters."""

    event: Annotated[str, StringConstraints(max_length=100)] | None = None


class EvolutionKey(GatewayEvent):
    remoteJid: Annotated[str, StringConstraints(max_length=80)] | None = Field(  # Contact.whatsapp_id
        None, description="The sender, e.g. 5585999990001@s.whatsapp.net"
    )
    fromMe: bool = False


class EvolutionExtendedText(GatewayEvent):
    text: str | None = None


class EvolutionMessage(GatewayEvent):
    conversation: str | None = None
    extendedTextMessage: EvolutionExtendedText | None = None

    def text(self) -> str:
        return self.conversation or (self.extendedTextMessage.text if self.extendedTextMessage else None) or ""


class EvolutionData(GatewayEvent):
    key: EvolutionKey | None = None
    message: EvolutionMessage | None = None


class EvolutionEvent(EvolutionEnvelope):
    """A `messages.upsert` event: a message a patient sent (or one we sent, `fromMe`)."""

    data: EvolutionData | None = None
