"""The OpenAPI 3 document, served at /openapi.json.

Request schemas come from the same pydantic models that validate the bodies, so they cannot drift;
the operations are listed here by hand (a test checks that every route of the app is listed).
Written here rather than with a Flask-OpenAPI extension because those replace Flask's own routing
and error handling, which would split the contract's two response dialects across two mechanisms.
"""

from functools import lru_cache
from typing import Any

from flask import Blueprint, jsonify
from pydantic import BaseModel
from werkzeug.routing import BaseConverter

from filas_api import idempotency
from filas_api.converters import DbIdConverter, MessageIdConverter
from filas_api.schemas import BookingRequest, CampaignCreate, EvolutionEvent, OptOutIn

bp = Blueprint("docs", __name__)

PORTAL_REPLY = {"success": {"type": "boolean"}, "message": {"type": "string"}}
TASK_REPLY = {"sucesso": {"type": "boolean"}, "task_id": {"type": "string"}, "status_url": {"type": "string"}}


def _reply(description: str, properties: dict[str, Any] | None = None) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties or {}}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(model: type[BaseModel]) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"required": True, "content": {"application/json": {"schema": ref}}}


def _path_param(name: str, converter: type[BaseConverter]) -> dict[str, Any]:
    """Described by the URL converter the route uses (converters.py): what it refuses is a 404."""
    return {"name": name, "in": "path", "required": True, "schema": dict(converter.openapi_schema)}


def _operation(summary: str, responses: dict[str, Any], body=None, params=(), public=False) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "responses": dict(responses)}
    if body is not None:
        operation["requestBody"] = _body(body)
        operation["responses"].update(BAD_INPUT)
        operation["responses"].update(TOO_LARGE)
    if params:
        operation["parameters"] = list(params)
    if public:
        operation["security"] = []
    else:
        operation["responses"].update(UNAUTHORIZED)
    return operation


BAD_INPUT = {"400": _reply("Corpo inválido: `erros` diz qual campo e por quê")}
TOO_LARGE = {"413": _reply("Corpo maior que o limite (FILAS_API_MAX_BODY_BYTES)")}
UNAUTHORIZED = {"401": _reply("Sem o cabeçalho Authorization: Bearer <token>, ou token inválido")}
NOT_FOUND = {"404": _reply("Id desconhecido (ou fora do formato: inteiro 1..2147483647, uuid)")}
CONFLICT = {"409": _reply("Conflito com o estado atual (ex.: lote já agendado)")}
UNAVAILABLE = {"503": _reply("Redis ou banco de dados indisponível")}
ACCEPTED_BOOKING = {
    "202": _reply("Aceito e enfileirado", {**PORTAL_REPLY, "integracao_id": {"type": "integer"},
                                           "job_id": {"type": "string"}, "status_url": {"type": "string"}})
}
IDEMPOTENCY_KEY = {
    "name": idempotency.HEADER, "in": "header", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": idempotency.MAX_LENGTH, "pattern": "^[!-~]+$"},
    "description": "Optional; e.g. a UUID made once per booking the user asks for. Sent again with the same key "
                   "and body (a retry after a timeout, a double click), the request answers 200 with the first "
                   "request's integracao_id and job_id and books nothing more; with another body, 422. Kept in "
                   "PostgreSQL: it outlives restarts, and concurrent requests with one key make one job.",
}
REPLAYED_BOOKING = {
    "200": {**_reply("Repetição de uma requisição já aceita (mesma Idempotency-Key e corpo): os mesmos ids",
                     ACCEPTED_BOOKING["202"]["content"]["application/json"]["schema"]["properties"]),
            "headers": {"Idempotent-Replayed": {"schema": {"type": "string", "enum": ["true"]}}}},
    "422": _reply("Idempotency-Key já usada com outro corpo"),
}

EVIDENCE_ITEM = {"type": "object", "properties": {
    "id": {"type": "integer"}, "criado_em": {"type": "string", "format": "date-time"},
    "job_id": {"type": ["string", "null"]}, "tentativa": {"type": "integer"},
    "etapa": {"type": ["string", "null"], "description": "The last step logged before the failure"},
    "erro": {"type": "string"}, "url": {"type": ["string", "null"], "description": "The page the browser was on"},
    "screenshot_bytes": {"type": "integer", "description": "0: no screenshot kept (none fit the size limit)"},
    "html_bytes": {"type": "integer"}, "html_truncado": {"type": "boolean"},
    "screenshot_url": {"type": "string"}, "html_url": {"type": "string"}}}
EVIDENCE_FILE_404 = {"404": _reply("Evidência desconhecida, ou sem este arquivo")}


def _file(description: str, media_type: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {media_type: {"schema": schema}}}


PATHS: dict[str, dict[str, Any]] = {
    "/healthz": {"get": _operation("Liveness", {"200": _reply("Vivo")}, public=True)},
    "/readyz": {"get": _operation("Readiness: the database answers (Redis is reported, not required)",
                                  {"200": _reply("Pronto", {"status": {"type": "string", "enum": ["ok", "degraded"]},
                                                            "checks": {"type": "object"}}),
                                   "503": _reply("Banco de dados indisponível")}, public=True)},
    "/metrics": {"get": _operation("Prometheus metrics", {"200": {"description": "text exposition"}},
                                   public=True)},
    "/openapi.json": {"get": _operation("This document", {"200": _reply("OpenAPI 3")}, public=True)},
    "/portal/api/solicitar-agendamento-async": {
        "post": _operation("Request a booking (asynchronous)", {**ACCEPTED_BOOKING, **REPLAYED_BOOKING, **BAD_INPUT,
                                                                 **CONFLICT, **UNAVAILABLE}, body=BookingRequest,
                           params=[IDEMPOTENCY_KEY])},
    "/portal/api/solicitar-agendamento": {
        "post": _operation("Legacy synchronous name; now answers like the async one",
                           {**ACCEPTED_BOOKING, **BAD_INPUT, **CONFLICT, **UNAVAILABLE}, body=BookingRequest)},
    "/portal/api/status-job/{job_id}": {
        "get": _operation("Booking job status", {"200": _reply("Status", {
            **PORTAL_REPLY, "job_id": {"type": "string"},
            "status": {"type": "string", "enum": ["queued", "started", "finished", "failed"]},
            "estado": {"type": "string"}, "criado_em": {"type": "string"}, "iniciado_em": {"type": "string"},
            "finalizado_em": {"type": "string"}, "resultado": {"type": "object"},
            "integracao": {"type": "object"}}), **NOT_FOUND, **UNAVAILABLE},
            params=[_path_param("job_id", MessageIdConverter)])},
    "/portal/api/reprocessar-integracao/{integracao_id}": {
        "post": _operation("Retry a failed integration", {**ACCEPTED_BOOKING, **NOT_FOUND, **CONFLICT, **UNAVAILABLE},
                           params=[_path_param("integracao_id", DbIdConverter)])},
    "/portal/api/status-filas": {
        "get": _operation("Queues overview", {"200": _reply("Per queue counts", {
            **PORTAL_REPLY, "filas": {"type": "object"}}), **UNAVAILABLE})},
    "/portal/api/integracoes/{integracao_id}/evidencias": {
        "get": _operation("Evidence of an integration's failed attempts (newest first; files by their URLs)",
                          {"200": _reply("Evidências", {**PORTAL_REPLY, "integracao_id": {"type": "integer"},
                                                        "evidencias": {"type": "array", "items": EVIDENCE_ITEM}}),
                           **NOT_FOUND, **UNAVAILABLE},
                          params=[_path_param("integracao_id", DbIdConverter)])},
    "/portal/api/evidencias/{evidencia_id}/screenshot": {
        "get": _operation("Screenshot of the portal's page when the attempt failed",
                          {"200": _file("JPEG", "image/jpeg", {"type": "string", "format": "binary"}),
                           **EVIDENCE_FILE_404, **UNAVAILABLE},
                          params=[_path_param("evidencia_id", DbIdConverter)])},
    "/portal/api/evidencias/{evidencia_id}/html": {
        "get": _operation("The portal page's HTML when the attempt failed, as a plain-text attachment (never "
                          "rendered); password inputs' values removed, cut at FILAS_PORTAL_EVIDENCE_MAX_BYTES",
                          {"200": _file("The HTML, as text", "text/plain", {"type": "string"}),
                           **EVIDENCE_FILE_404, **UNAVAILABLE},
                          params=[_path_param("evidencia_id", DbIdConverter)])},
    "/api/campanhas": {
        "post": _operation("Create a campaign with its contacts", {"201": _reply("Criada"), **UNAVAILABLE},
                           body=CampaignCreate)},
    "/api/campanhas/{campanha_id}": {
        "get": _operation("A campaign and its counts", {"200": _reply("Campanha"), **NOT_FOUND, **UNAVAILABLE},
                          params=[_path_param("campanha_id", DbIdConverter)])},
    "/api/campanhas/{campanha_id}/validar": {
        "post": _operation("Start validating the numbers", {"202": _reply("Enfileirada", TASK_REPLY),
                                                            **NOT_FOUND, **CONFLICT, **UNAVAILABLE},
                           params=[_path_param("campanha_id", DbIdConverter)])},
    "/api/campanhas/{campanha_id}/enviar": {
        "post": _operation("Start sending", {"202": _reply("Enfileirada", TASK_REPLY), **NOT_FOUND, **CONFLICT,
                                             **UNAVAILABLE},
                           params=[_path_param("campanha_id", DbIdConverter)])},
    "/api/optouts": {"post": _operation("Record an opt-out (recording it again is no error)",
                                        {"201": _reply("Registrado"), **UNAVAILABLE}, body=OptOutIn)},
    "/api/webhooks/evolution": {
        "post": _operation("Evolution API webhook: patient replies and opt-outs (other events are ignored)",
                           {"200": _reply("Registrado ou ignorado"), **NOT_FOUND, **UNAVAILABLE}, public=True,
                           body=EvolutionEvent,
                           params=[{"name": "token", "in": "query", "required": True, "schema": {"type": "string"},
                                    "description": "FILAS_WEBHOOK_TOKEN; a wrong one is a 404"}])},
    "/api/task/{task_id}/status": {
        "get": _operation("Task status with progress", {"200": _reply("Status"), **NOT_FOUND, **UNAVAILABLE},
                          params=[_path_param("task_id", MessageIdConverter)])},
    "/api/task/{task_id}/cancel": {
        "post": _operation("Cancel a task", {"200": _reply("Cancelada"), "202": _reply("Cancelamento solicitado"),
                                             **NOT_FOUND, **CONFLICT, **UNAVAILABLE},
                           params=[_path_param("task_id", MessageIdConverter)])},
}


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in (BookingRequest, CampaignCreate, OptOutIn, EvolutionEvent):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return {
        "openapi": "3.1.0",
        "info": {"title": "Filas API", "version": "1.0.0",
                 "description": "Background jobs: supplier-portal bookings and WhatsApp campaigns.\n\n"
                                "A string in a request body cannot hold a NUL character (\\u0000) or a lone "
                                "surrogate (\\ud800-\\udfff): it is refused with 400 naming the field."},
        "paths": PATHS,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())
