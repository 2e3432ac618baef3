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
    RootModel,
    StringConstraints,
    field_validator,
    model_validator,
)

from filas import clock
from filas.phones import InvalidPhone, normalize_br
from filas.settings import get_settings
from filas_api.contacts_csv import field_name

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


def _field_name(value: Any) -> Any:
    """Written as a CSV header may be ("Data da Consulta"), kept as the contact's field is (data_da_consulta)."""
    if not isinstance(value, str):
        return value
    name = field_name(value)
    if not name:
        raise ValueError("nome de campo vazio: use letras e números, como nome ou data_consulta")
    return name


FieldName = Annotated[str, BeforeValidator(_field_name), StringConstraints(max_length=100)]


class TemplateIn(Body):
    """A Meta Cloud API template approved for the sending number (needed outside the 24 h window)."""

    nome: Annotated[Text, StringConstraints(max_length=200)] = Field(description="The template's name at Meta")
    idioma: Annotated[Text, StringConstraints(max_length=20)] | None = Field(
        None, description="Its language code, e.g. pt_BR (default: FILAS_META_TEMPLATE_LANGUAGE)"
    )
    parametros: list[FieldName] = Field(
        default_factory=list, max_length=20,
        description="The body parameters {{1}}, {{2}}... in order, each the name of a contact's field: nome, or a "
        "column of the contacts CSV (case, accents and spaces as in the CSV header are ignored)",
    )


class FollowUpIn(Body):
    apos_dias: int | None = Field(
        None, ge=1, le=365, description="Days without an answer after the last message that left before a "
        "follow-up (at 09:00 America/Fortaleza); default FILAS_FOLLOW_UP_AFTER_DAYS"
    )
    maximo: int | None = Field(
        None, ge=0, le=30, description="Follow-ups a contact receives at most; 0: none. Default FILAS_FOLLOW_UP_MAX"
    )


class CampaignCreate(Body):
    nome: Annotated[Text, StringConstraints(max_length=200)]
    mensagem: Annotated[Text, StringConstraints(max_length=4096)]
    mensagem_follow_up: Annotated[Text, StringConstraints(max_length=4096)] | None = None
    contacts: list[ContactIn] = Field(
        default_factory=list, alias="contatos", max_length=50_000,
        description="May be empty: contacts can come in a CSV afterwards (POST /api/campanhas/{id}/contatos)",
    )
    modelo: TemplateIn | None = None
    follow_up: FollowUpIn | None = None

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


class ErasureRequest(Body):
    telefone: PhoneText = Field(description="The patient's number in any usual format, e.g. (85) 99999-0001 "
                                "(with or without the mobile's ninth digit: both are erased)")

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


GatewayMessageId = Annotated[str, StringConstraints(min_length=1, max_length=120)]  # mensagens.gateway_message_id
GatewayContactId = Annotated[str, StringConstraints(max_length=80)]  # Contact.whatsapp_id
UnixSeconds = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,11}$")]  # as the Cloud API writes them


class EvolutionStatusData(GatewayEvent):
    """Evolution v2 sends `keyId` (the message's key.id, which sendText answered); v1 spread the key (`id`)."""

    keyId: GatewayMessageId | None = None
    id: GatewayMessageId | None = None
    remoteJid: GatewayContactId | None = None
    fromMe: bool = False
    status: Annotated[str, StringConstraints(max_length=40)] | None = Field(
        None, description="SERVER_ACK, DELIVERY_ACK, READ, PLAYED, ERROR (PENDING, DELETED: ignored)"
    )
    timestamp: Annotated[int, Field(ge=0, le=99_999_999_999)] | None = None  # unix seconds, where sent

    def message_id(self) -> str | None:
        return self.keyId or self.id


class EvolutionStatusEvent(EvolutionEnvelope):
    """A `messages.update` event: a delivery status of a message."""

    data: EvolutionStatusData | None = None


class EvolutionWebhook(RootModel[EvolutionEvent | EvolutionStatusEvent]):
    """An Evolution API webhook event: `messages.upsert` (replies), `messages.update` (delivery statuses); any
    other event is answered 200 and ignored."""


class MetaErrorData(GatewayEvent):
    details: str | None = None


class MetaError(GatewayEvent):
    code: int | None = None
    title: str | None = None
    message: str | None = None
    error_data: MetaErrorData | None = None

    def text(self) -> str:
        details = self.error_data.details if self.error_data else None
        return " — ".join(part for part in (self.title or self.message, details) if part)


class MetaStatus(GatewayEvent):
    id: GatewayMessageId = Field(description="The message's wamid, as the send answered it")
    status: Annotated[str, StringConstraints(max_length=40)] = Field(description="sent, delivered, read, failed")
    timestamp: UnixSeconds | None = None
    recipient_id: GatewayContactId | None = None
    biz_opaque_callback_data: Annotated[str, StringConstraints(max_length=512)] | None = Field(
        None, description="What the send carried: our message id"
    )
    errors: list[MetaError] = []


class MetaText(GatewayEvent):
    body: str | None = None


class MetaButton(GatewayEvent):
    text: str | None = None


class MetaInbound(GatewayEvent):
    """A message a patient sent. Any type marks the contact answered; text and quick-reply buttons are read."""

    sender: GatewayContactId = Field(alias="from", description="The patient's wa_id")
    id: Annotated[str, StringConstraints(max_length=200)] | None = None
    timestamp: UnixSeconds | None = None
    type: Annotated[str, StringConstraints(max_length=40)] | None = None
    text: MetaText | None = None
    button: MetaButton | None = None

    def body_text(self) -> str:
        return (self.text.body if self.text else None) or (self.button.text if self.button else None) or ""


class MetaMetadata(GatewayEvent):
    display_phone_number: Annotated[str, StringConstraints(max_length=40)] | None = None
    phone_number_id: Annotated[str, StringConstraints(max_length=40)] | None = None


class MetaMessagesValue(GatewayEvent):
    metadata: MetaMetadata | None = None
    messages: list[MetaInbound] = []
    statuses: list[MetaStatus] = []


class MetaChange(GatewayEvent):
    field: Annotated[str, StringConstraints(max_length=100)] | None = None
    value: MetaMessagesValue | None = Field(None, description="Read only when `field` is \"messages\"")

    @model_validator(mode="before")
    @classmethod
    def read_messages_only(cls, data: Any) -> Any:
        """Other fields (template status, account updates...) have other shapes: their value is not read."""
        if isinstance(data, dict) and data.get("field") != "messages":
            return {key: value for key, value in data.items() if key != "value"}
        return data


class MetaEntry(GatewayEvent):
    id: Annotated[str, StringConstraints(max_length=40)] | None = None
    changes: list[MetaChange] = []


class MetaWebhook(GatewayEvent):
    """A WhatsApp Cloud API webhook (object "whatsapp_business_account"): statuses and inbound messages."""

    object: Annotated[str, StringConstraints(max_length=100)] | None = None
    entry: list[MetaEntry] = Field([], description="Read only when `object` is \"whatsapp_business_account\"")

    @model_validator(mode="before")
    @classmethod
    def read_whatsapp_only(cls, data: Any) -> Any:
        """Another product's webhooks (a Page's, Instagram's) have other shapes: their entries are not read."""
        if isinstance(data, dict) and data.get("object") != "whatsapp_business_account":
            return {key: value for key, value in data.items() if key != "entry"}
        return data
