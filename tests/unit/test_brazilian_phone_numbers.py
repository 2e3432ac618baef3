"""Brazilian numbers as people type them, to the E.164 digits campaigns store (filas.phones.normalize_br)."""

import re

import pytest

from filas.phones import InvalidPhone, normalize_br, phone_key, with_ninth_digit

MOBILE = "5585999990001"
LANDLINE = "558533334444"


@pytest.mark.parametrize("typed", [
    "(85) 99999-0001",
    "85 99999-0001",
    "85999990001",
    "(85)99999-0001",
    "(85) 9 9999-0001",
    "85 9 9999 0001",
    "85.99999.0001",
    "+55 85 99999-0001",
    "+55 (85) 99999-0001",
    "+5585999990001",
    "55 85 99999-0001",  # the country code without '+'
    "5585999990001",
    "085 99999-0001",  # trunk prefix 0
    "0 85 99999-0001",
    "(085) 99999-0001",
    "0XX85 99999-0001",  # "0 XX DDD": the carrier left for the caller to choose
    "(0xx85) 99999-0001",
    "0 31 85 99999-0001",  # carrier code 31
    "015 85 99999-0001",  # carrier code 15
    "  (85) 99999-0001  ",
    "tel: (85) 99999-0001",
])
def test_a_mobile_in_any_usual_shape(typed):
    assert normalize_br(typed) == MOBILE


@pytest.mark.parametrize("typed, expected", [
    ("(85) 9999-0001", MOBILE),  # an 8-digit mobile from before the ninth digit
    ("85 9999-0001", MOBILE),
    ("+55 85 9999-0001", MOBILE),
    ("+55 85 8888-0002", "5585988880002"),
    ("558588880002", "5585988880002"),  # 55 without '+', 8-digit mobile
    ("0 XX 85 7777-0003", "5585977770003"),
    ("(11) 6666-0004", "5511966660004"),  # 6 to 9: mobiles
    ("(55) 9999-0001", "5555999990001"),  # DDD 55 (Santa Maria, RS) is not mistaken for the country code
])
def test_an_old_8_digit_mobile_gets_its_ninth_digit(typed, expected):
    assert normalize_br(typed) == expected


@pytest.mark.parametrize("typed, expected", [
    ("(85) 3333-4444", LANDLINE),
    ("+55 85 3333-4444", LANDLINE),
    ("085 3333 4444", LANDLINE),
    ("(11) 2222-1234", "551122221234"),
    ("(21) 4444-1234", "552144441234"),
    ("(61) 5555-1234", "556155551234"),
])
def test_a_landline_keeps_its_8_digits(typed, expected):
    assert normalize_br(typed) == expected


@pytest.mark.parametrize("typed, reason", [
    ("", "vazio"),
    ("   ", "vazio"),
    ("abc", "não parece um telefone"),
    ("123", "faltam dígitos"),
    ("99999-0001", "faltam dígitos"),  # no area code
    ("+55 85 99999-00011", "dígitos demais"),
    ("(20) 99999-0001", "DDD 20 não existe"),
    ("(85) 1999-0001", "número inexistente"),
    ("(85) 0999-0001", "número inexistente"),
    ("+1 650 253 0000", "não é um número brasileiro (código do país +1)"),
    ("+351 912 345 678", "não é um número brasileiro"),
    ("0800 123 4567", "não é um celular nem um telefone fixo"),
    ("4004-0001", "não é um celular nem um telefone fixo"),
])
def test_what_is_not_a_brazilian_phone_is_refused_saying_why(typed, reason):
    with pytest.raises(InvalidPhone, match=re.escape(reason)):
        normalize_br(typed)


def test_both_forms_of_a_mobile_are_one_number_for_opt_outs():
    assert with_ninth_digit("558599990001") == MOBILE
    assert with_ninth_digit(LANDLINE) == LANDLINE
    assert phone_key("558599990001") == phone_key(MOBILE) != phone_key(LANDLINE)
