"""/openapi.json describes what the API really accepts: a client generated from it sends nothing the API
refuses for a reason the document does not state (test_openapi_fuzz.py sends what it allows)."""

import re

import pytest

from filas.db.models import Booking, Campaign, Contact
from filas_api.converters import DB_ID_MAX

SIZED_BY_THE_DATABASE = [
    ("BookingRequest", "lote_id", Booking.lote_id),
    ("BookingRequest", "transportadora", Booking.transportadora),
    ("BookingRequest", "tipo_veiculo", Booking.tipo_veiculo),
    ("CampaignCreate", "nome", Campaign.nome),
    ("ContactIn", "nome", Contact.nome),
    ("EvolutionKey", "remoteJid", Contact.whatsapp_id),
]
# The operations page (filas_api/ops): HTML for people behind a login form, not part of the JSON API.
NOT_THE_API = ("static", "ops.")


@pytest.fixture
def document(client):
    return client.get("/openapi.json").get_json()


def string_schema(schema: dict) -> dict:
    """The string branch of a property (`T | None` is an anyOf)."""
    return next((branch for branch in schema.get("anyOf", []) if branch.get("type") == "string"), schema)


@pytest.mark.parametrize("model, field, column", SIZED_BY_THE_DATABASE, ids=lambda v: getattr(v, "key", v))
def test_string_limits_are_the_database_column_sizes(document, model, field, column):
    schema = string_schema(document["components"]["schemas"][model]["properties"][field])
    assert schema["maxLength"] == column.type.length


def test_phone_numbers_are_documented_as_typed_and_fit_once_normalised(document):
    schemas = document["components"]["schemas"]
    for model in ("ContactIn", "OptOutIn"):
        telefone = schemas[model]["properties"]["telefone"]
        assert telefone["type"] == "string" and telefone["maxLength"] == 40 and "(85)" in telefone["description"]
    # normalised to E.164 digits: at most 15, within the column (an opt-out keeps only its hash)
    assert Contact.telefone.type.length >= 15


def test_the_booking_date_and_time_formats(document):
    properties = document["components"]["schemas"]["BookingRequest"]["properties"]
    assert (properties["data_agendamento"]["type"], properties["data_agendamento"]["format"]) == ("string", "date")
    assert "America/Fortaleza" in properties["data_agendamento"]["description"]
    pattern = re.compile(properties["hora_agendamento"]["pattern"])
    assert [bool(pattern.search(t)) for t in ("00:00", "09:30", "23:59", "24:00", "9:30", "09:60", "٠٩:٠٠")] == [
        True, True, True, False, False, False, False]
    assert Booking.hora_agendamento.type.length == 5


def test_path_parameters_are_described_by_the_route_converters(client, document):
    seen = set()
    for rule in client.application.url_map.iter_rules():
        if rule.endpoint.startswith(NOT_THE_API):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            documented = {p["name"]: p["schema"] for p in document["paths"][path][method.lower()].get("parameters", [])
                          if p["in"] == "path"}
            assert set(documented) == set(rule.arguments), path
            for name, converter in rule._converters.items():
                assert documented[name] == converter.openapi_schema, (path, name)
                seen.add(tuple(sorted(documented[name].items())))
    assert seen == {(("maximum", DB_ID_MAX), ("minimum", 1), ("type", "integer")),
                    (("format", "uuid"), ("type", "string"))}


def test_every_operation_with_a_body_documents_400_and_413_and_private_ones_401(document):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if "requestBody" in operation:
                assert {"400", "413"} <= set(operation["responses"]), (method, path)
            if operation.get("security") != []:
                assert "401" in operation["responses"], (method, path)
