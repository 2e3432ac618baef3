"""Phone numbers: parse Brazilian input into E.164 digits, key them for opt-outs, mask them for logs
(personal data)."""

import hashlib
import hmac

import phonenumbers
from phonenumbers import PhoneNumberType

# Without FILAS_OPT_OUT_KEY (a laptop, tests) opt-outs are keyed with this; production sets a secret key,
# since a plain hash of a phone number is reversed by trying every number.
DEVELOPMENT_OPT_OUT_KEY = "filas-development-opt-out-key"


class InvalidPhone(ValueError):
    """The text is not a Brazilian phone; the message says why, in Portuguese, for the user."""


BRAZIL = 55
EXAMPLE = "(85) 99999-0001"
# What WhatsApp can reach; toll-free (0800), shared-cost (4004) and other service numbers are refused.
PERSONAL_NUMBER_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE)
# A number that looks like a mobile in every Brazilian area code: probing an area code with it asks
# phonenumbers' metadata whether the area code exists.
MOBILE_PROBE = "999990001"


def normalize_br(raw: str) -> str:
    """A Brazilian phone as typed → its E.164 digits, without '+'.

    '(85) 99999-0001', '+55 85 99999-0001', '0 XX 85 99999-0001' (carrier code), '55 85 99999-0001' →
    '5585999990001'. An old 8-digit mobile gets its ninth digit: '(85) 9999-0001' → '5585999990001'. A
    landline keeps its 8 digits: '(85) 3333-4444' → '558533334444'. Raises InvalidPhone saying why not."""
    parsed = _parse(raw)
    if parsed.country_code != BRAZIL:
        raise InvalidPhone(f"não é um número brasileiro (código do país +{parsed.country_code})")
    # phonenumbers calls the 8-digit mobile invalid, so it is given its ninth digit before the checks.
    as_parsed = f"{BRAZIL}{parsed.national_number}"
    digits = with_ninth_digit(as_parsed)
    number = parsed if digits == as_parsed else phonenumbers.parse(f"+{digits}")
    kind = phonenumbers.number_type(number)  # UNKNOWN: not a valid number
    if kind == PhoneNumberType.UNKNOWN:
        raise InvalidPhone(_why_invalid(str(number.national_number)))
    if kind not in PERSONAL_NUMBER_TYPES:
        raise InvalidPhone("não é um celular nem um telefone fixo (0800, 4004 e números de serviço não recebem "
                           "WhatsApp)")
    return digits


def _parse(raw: str) -> phonenumbers.PhoneNumber:
    if not str(raw).strip():
        raise InvalidPhone("telefone vazio")
    try:
        return phonenumbers.parse(str(raw), "BR")
    except phonenumbers.NumberParseException as error:
        reasons = {
            phonenumbers.NumberParseException.TOO_SHORT_NSN: f"faltam dígitos: informe DDD e número, ex.: {EXAMPLE}",
            phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "faltam dígitos depois do código internacional",
            phonenumbers.NumberParseException.TOO_LONG: "dígitos demais para um telefone",
            phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "código de país inexistente",
        }
        raise InvalidPhone(reasons.get(error.error_type, f"não parece um telefone, ex.: {EXAMPLE}")) from None


def _why_invalid(national: str) -> str:
    if len(national) < 10:
        return f"faltam dígitos: informe DDD e número, ex.: {EXAMPLE}"
    if len(national) > 11:
        return "dígitos demais para um telefone brasileiro"
    area_code = national[:2]
    if not phonenumbers.is_valid_number(phonenumbers.parse(f"+{BRAZIL}{area_code}{MOBILE_PROBE}")):
        return f"o DDD {area_code} não existe"
    return "número inexistente: celular tem 9 dígitos começando com 9, fixo tem 8 começando com 2 a 5"


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
