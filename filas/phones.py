"""Phone numbers: parse Brazilian input into E.164 digits, and mask them for logs (personal data)."""

import phonenumbers


class InvalidPhone(ValueError):
    pass


def normalize_br(raw: str) -> str:
    """'(85) 99999-0001' or '+55 85 99999-0001' → '5585999990001'. Raises InvalidPhone."""
    try:
        parsed = phonenumbers.parse(raw, "BR")
    except phonenumbers.NumberParseException as error:
        raise InvalidPhone(f"telefone inválido: {mask(raw)}") from error
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone(f"telefone inválido: {mask(raw)}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164).lstrip("+")


def mask(phone: str) -> str:
    """Keep only the last four digits: '5585999990001' → '*********0001'."""
    digits = "".join(ch for ch in str(phone) if ch.isdigit())
    return "*" * max(len(digits) - 4, 0) + digits[-4:]


def mask_name(name: str) -> str:
    """'Maria da Silva' → 'M*** d* S****' — enough to tell rows apart in a log, not to identify."""
    return " ".join(part[0] + "*" * (len(part) - 1) for part in name.split())
