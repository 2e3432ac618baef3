"""Phone numbers: parse Brazilian input into E.164 digits, key them for opt-outs, mask them for logs
(personal data)."""

import hashlib
import hmac

import phonenumbers

# Without FILAS_OPT_OUT_KEY (a laptop, tests) opt-outs are keyed with this; production sets a secret key,
# since a plain hash of a phone number is reversed by trying every number.
DEVELOPMENT_OPT_OUT_KEY = "filas-development-opt-out-key"


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


def with_ninth_digit(digits: str) -> str:
    """A Brazilian mobile in its current 13-digit form: '558599990001' (an old WhatsApp id, before the
    ninth digit) → '5585999990001'. Any other number is returned as given."""
    if digits.startswith("55") and len(digits) == 12 and digits[4] in "6789" and "0" not in digits[2:4]:
        return f"{digits[:4]}9{digits[4:]}"
    return digits


def phone_key(digits: str) -> str:
    """The keyed hash an opt-out is kept as (HMAC-SHA256 of the number's 13-digit form, hex): the same for
    a number with or without its ninth digit, and not reversible without FILAS_OPT_OUT_KEY."""
    from filas.settings import get_settings  # settings import nothing from here; lazily, for the models

    key = get_settings().opt_out_key.get_secret_value() or DEVELOPMENT_OPT_OUT_KEY
    number = with_ninth_digit("".join(ch for ch in str(digits) if ch.isdigit()))
    return hmac.new(key.encode(), number.encode(), hashlib.sha256).hexdigest()


def mask(phone: str) -> str:
    """Keep only the last four digits: '5585999990001' → '*********0001'."""
    digits = "".join(ch for ch in str(phone) if ch.isdigit())
    return "*" * max(len(digits) - 4, 0) + digits[-4:]


def mask_name(name: str) -> str:
    """'Maria da Silva' → 'M*** d* S****' — enough to tell rows apart in a log, not to identify."""
    return " ".join(part[0] + "*" * (len(part) - 1) for part in name.split())
