"""What one contact is sent: the campaign's text with the contact's fields filled in, and the Cloud API
template with its body parameters taken from the same fields."""

import re

from filas.db.models import Campaign, Contact
from filas.settings import get_settings
from filas_campaigns.gateways import OutgoingMessage

# {nome}, {data_consulta}: a contact's field. Anything else in braces is left as written.
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def contact_fields(contact: Contact) -> dict[str, str]:
    """The contact's template fields (CSV columns beyond nome and telefone), with "nome" its name."""
    return {**{key: str(value) for key, value in (contact.campos or {}).items()}, "nome": contact.nome}


def render(text: str, fields: dict[str, str]) -> str:
    """'Olá, {nome}!' → 'Olá, Maria!'; a placeholder with no such field stays as written."""
    return _PLACEHOLDER.sub(lambda match: fields.get(match.group(1), match.group(0)), text)


def outgoing_message(campaign: Campaign, contact: Contact, text: str, reference: str = "") -> OutgoingMessage:
    fields = contact_fields(contact)
    return OutgoingMessage(
        text=render(text, fields),
        template=campaign.modelo,
        language=campaign.modelo_idioma or get_settings().meta_template_language,
        parameters=tuple(fields.get(name, "") for name in campaign.modelo_parametros or ()),
        reference=reference,
    )
