"""Request bodies of the HTTP contract (field names are the front end's, in Portuguese)."""

import datetime as dt
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from filas.phones import InvalidPhone, normalize_br

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BookingRequest(Body):
    lote_id: Annotated[Text, StringConstraints(max_length=80)]
    data_agendamento: dt.date = Field(description="YYYY-MM-DD")
    hora_agendamento: Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")] = Field(
        description="HH:MM"
    )
    transportadora: Annotated[Text, StringConstraints(max_length=200)]
    tipo_veiculo: Annotated[Text, StringConstraints(max_length=40)]

    @field_validator("data_agendamento")
    @classmethod
    def not_in_the_past(cls, value: dt.date) -> dt.date:
        if value < dt.date.today():
            raise ValueError("a data do agendamento já passou")
        return value


class ContactIn(Body):
    nome: Annotated[Text, StringConstraints(max_length=200)]
    telefone: Text = Field(description="Brazilian number in any usual format, e.g. (85) 99999-0001")

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
    contatos: list[ContactIn] = Field(min_length=1, max_length=50_000)

    @model_validator(mode="after")
    def no_repeated_numbers(self) -> "CampaignCreate":
        seen: dict[str, int] = {}
        for index, contact in enumerate(self.contatos):
            if contact.telefone in seen:
                raise ValueError(f"contatos[{index}].telefone repete o número de contatos[{seen[contact.telefone]}]")
            seen[contact.telefone] = index
        return self


class OptOutIn(Body):
    telefone: Text
    motivo: Annotated[str, StringConstraints(max_length=500)] | None = None

    @field_validator("telefone")
    @classmethod
    def valid_phone(cls, value: str) -> str:
        return ContactIn.valid_phone(value)
