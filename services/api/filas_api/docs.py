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

from filas_api.schemas import BookingRequest, CampaignCreate, OptOutIn

bp = Blueprint("docs", __name__)

PORTAL_REPLY = {"success": {"type": "boolean"}, "message": {"type": "string"}}
TASK_REPLY = {"sucesso": {"type": "boolean"}, "task_id": {"type": "string"}, "status_url": {"type": "string"}}


def _reply(description: str, properties: dict[str, Any] | None = None) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties or {}}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(model: type[BaseModel]) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"required": True, "content": {"application/json": {"schema": ref}}}


def _path_param(name: str, type_: str = "string") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": type_}}


def _operation(summary: str, responses: dict[str, Any], body=None, params=(), public=False) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "responses": responses}
    if body is not None:
        operation["requestBody"] = _body(body)
    if params:
        operation["parameters"] = list(params)
    if public:
        operation["security"] = []
    return operation


BAD_INPUT = {"400": _reply("Corpo inválido: `erros` diz qual campo e por quê")}
NOT_FOUND = {"404": _reply("Id desconhecido")}
CONFLICT = {"409": _reply("Conflito com o estado atual (ex.: lote já agendado)")}
UNAVAILABLE = {"503": _reply("Redis ou banco de dados indisponível")}
ACCEPTED_BOOKING = {
    "202": _reply("Aceito e enfileirado", {**PORTAL_REPLY, "integracao_id": {"type": "integer"},
                                           "job_id": {"type": "string"}, "status_url": {"type": "string"}})
}

PATHS: dict[str, dict[str, Any]] = {
    "/healthz": {"get": _operation("Liveness", {"200": _reply("Vivo")}, public=True)},
    "/readyz": {"get": _operation("Readiness: Redis and database answer",
                                  {"200": _reply("Pronto"), **UNAVAILABLE}, public=True)},
    "/metrics": {"get": _operation("Prometheus metrics", {"200": {"description": "text exposition"}},
                                   public=True)},
    "/openapi.json": {"get": _operation("This document", {"200": _reply("OpenAPI 3")}, public=True)},
    "/portal/api/solicitar-agendamento-async": {
        "post": _operation("Request a booking (asynchronous)", {**ACCEPTED_BOOKING, **BAD_INPUT, **CONFLICT,
                                                                 **UNAVAILABLE}, body=BookingRequest)},
    "/portal/api/solicitar-agendamento": {
        "post": _operation("Legacy synchronous name; now answers like the async one",
                           {**ACCEPTED_BOOKING, **BAD_INPUT, **CONFLICT, **UNAVAILABLE}, body=BookingRequest)},
    "/portal/api/status-job/{job_id}": {
        "get": _operation("Booking job status", {"200": _reply("Status", {
            **PORTAL_REPLY, "job_id": {"type": "string"},
            "status": {"type": "string", "enum": ["queued", "started", "finished", "failed"]},
            "estado": {"type": "string"}, "criado_em": {"type": "string"}, "iniciado_em": {"type": "string"},
            "finalizado_em": {"type": "string"}, "resultado": {"type": "object"},
            "integracao": {"type": "object"}}), **NOT_FOUND}, params=[_path_param("job_id")])},
    "/portal/api/reprocessar-integracao/{integracao_id}": {
        "post": _operation("Retry a failed integration", {**ACCEPTED_BOOKING, **NOT_FOUND, **CONFLICT},
                           params=[_path_param("integracao_id", "integer")])},
    "/portal/api/status-filas": {
        "get": _operation("Queues overview", {"200": _reply("Per queue counts", {
            **PORTAL_REPLY, "filas": {"type": "object"}})})},
    "/api/campanhas": {
        "post": _operation("Create a campaign with its contacts", {"201": _reply("Criada"), **BAD_INPUT},
                           body=CampaignCreate)},
    "/api/campanhas/{campanha_id}": {
        "get": _operation("A campaign and its counts", {"200": _reply("Campanha"), **NOT_FOUND},
                          params=[_path_param("campanha_id", "integer")])},
    "/api/campanhas/{campanha_id}/validar": {
        "post": _operation("Start validating the numbers", {"202": _reply("Enfileirada", TASK_REPLY),
                                                            **NOT_FOUND, **CONFLICT},
                           params=[_path_param("campanha_id", "integer")])},
    "/api/campanhas/{campanha_id}/enviar": {
        "post": _operation("Start sending", {"202": _reply("Enfileirada", TASK_REPLY), **NOT_FOUND, **CONFLICT},
                           params=[_path_param("campanha_id", "integer")])},
    "/api/optouts": {"post": _operation("Record an opt-out", {"201": _reply("Registrado"), **BAD_INPUT},
                                        body=OptOutIn)},
    "/api/webhooks/evolution": {
        "post": _operation("Evolution API webhook: patient replies and opt-outs",
                           {"200": _reply("Registrado"), **NOT_FOUND}, public=True,
                           params=[{"name": "token", "in": "query", "required": True, "schema": {"type": "string"}}])},
    "/api/task/{task_id}/status": {
        "get": _operation("Task status with progress", {"200": _reply("Status"), **NOT_FOUND},
                          params=[_path_param("task_id")])},
    "/api/task/{task_id}/cancel": {
        "post": _operation("Cancel a task", {"200": _reply("Cancelada"), "202": _reply("Cancelamento solicitado"),
                                             **NOT_FOUND, **CONFLICT}, params=[_path_param("task_id")])},
}


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in (BookingRequest, CampaignCreate, OptOutIn):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return {
        "openapi": "3.1.0",
        "info": {"title": "Filas API", "version": "1.0.0",
                 "description": "Background jobs: supplier-portal bookings and WhatsApp campaigns."},
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
