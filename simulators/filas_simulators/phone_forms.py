"""The forms of a Brazilian mobile number the WhatsApp gateways accept: with or without its 9th digit
(accounts older than the 2012-2016 migration are known to WhatsApp by the 8-digit local form)."""


def user_part(raw: str) -> str | None:
    """Digits of a number given as digits, +digits or a jid; None if it is not made of digits."""
    user = raw.strip().split("@", 1)[0].removeprefix("+")
    return user if user.isdigit() else None


def canonical_mobile(raw: str) -> str | None:
    """The 13-digit form (55 DDD 9XXXXXXXX) of a Brazilian mobile given in any form, or None."""
    digits = user_part(raw)
    if digits is None or not digits.startswith("55"):
        return None
    ddd, local = digits[2:4], digits[4:]
    if len(ddd) != 2 or "0" in ddd:
        return None
    if len(local) == 9 and local[0] == "9":
        return digits
    if len(local) == 8 and local[0] in "6789":  # old mobile form, before the 9th digit
        return f"55{ddd}9{local}"
    return None


def legacy_form(mobile: str) -> str:
    """A 13-digit mobile without its 9th digit."""
    return mobile[:4] + mobile[5:]
