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
from filas_api.schemas import (
    BookingRequest,
    CampaignCreate,
    ErasureRequest,
    EvolutionWebhook,
    MetaWebhook,
    OptOutIn,
)

bp = Blueprint("docs", __name__)

PORTAL_REPLY = {"success": {"type": "boolean"}, "message": {"type": "string"}}
TASK_REPLY = {"sucesso": {"type": "boolean"}, "task_id": {"type": "string"}, "status_url": {"type": "string"}}


def _reply(description: str, properties: dict[str, Any] | None = None) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties or {}}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(model: type[BaseModel] | dict[str, Any]) -> dict[str, Any]:
    if isinstance(model, dict):  # a body that is no JSON object (a CSV file): described as it is
        return model
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"required": True, "content": {"application/json": {"schema": ref}}}


def _path_param(name: str, converter: type[BaseConverter]) -> dict[str, Any]:
    """Described by the URL converter the route uses (converters.py): what it refuses is a 404."""
    return {"name": name, "in": "path", "required": True, "schema": dict(converter.openapi_schema)}


def _operation(summary: str, responses: dict[str, Any], body=None, params=(), public=False) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "responses": dict(responses)}
    if body is not None:
        operation["requestBody"] = _body(body)
        for code, reply in {**BAD_INPUT, **TOO_LARGE}.items():  # unless the operation says more about them
            operation["responses"].setdefault(code, reply)
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

CONTACTS_CSV = {"required": True, "description": (
    "A CSV with a header row naming `nome` and `telefone` (case, accents and spaces ignored); every other column "
    "is a template field of the contact ({data_consulta} in a message, or a `modelo.parametros` name). UTF-8 (with "
    "or without BOM) or Windows-1252/Latin-1; ';' or ',' between cells. At most FILAS_CONTACTS_IMPORT_MAX_ROWS "
    "rows and FILAS_CONTACTS_IMPORT_MAX_BYTES bytes"), "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["arquivo"], "properties": {
        "arquivo": {"type": "string", "format": "binary"}}}},
    "text/csv": {"schema": {"type": "string"}}}}
IMPORT_REPLY = {"campanha_id": {"type": "integer"}, "importados": {"type": "integer"},
                "total": {"type": "integer", "description": "Data rows in the file (blank rows are not counted)"},
                "rejeitados": {"type": "array", "items": {"type": "object", "properties": {
                    "linha": {"type": "integer", "description": "The line of the file (the header is line 1)"},
                    "motivo": {"type": "string"}}}}}
ERASURE_REPLY = {"contatos_apagados": {"type": "integer"}, "mensagens_apagadas": {"type": "integer"},
                 "campanhas": {"type": "integer", "description": "Campaigns the number was in"},
                 "opt_out": {"type": "boolean", "description": "Recorded (as a keyed hash): no campaign sends to it"}}

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


WEBHOOK_REFUSED = {"401": _reply("Sem a credencial do gateway (cabeçalho de autenticação ou assinatura)"),
                   "403": _reply("Credencial errada, ou o webhook deste gateway não está configurado")}
WEBHOOK_TOKEN_QUERY = {"name": "token", "in": "query", "required": False, "schema": {"type": "string"},
                       "description": "FILAS_WEBHOOK_TOKEN, only when the gateway cannot send the Authorization "
                                      "header (either one carrying it is enough)"}
META_VERIFICATION_PARAMS = [
    {"name": "hub.mode", "in": "query", "required": True, "schema": {"type": "string", "enum": ["subscribe"]}},
    {"name": "hub.verify_token", "in": "query", "required": True, "schema": {"type": "string"},
     "description": "FILAS_META_VERIFY_TOKEN"},
    {"name": "hub.challenge", "in": "query", "required": True, "schema": {"type": "string", "maxLength": 200},
     "description": "Echoed as the answer"},
]
META_SIGNATURE = {"name": "X-Hub-Signature-256", "in": "header", "required": True,
                  "schema": {"type": "string", "pattern": "^sha256=[0-9a-f]{64}$"},
                  "description": "sha256=<hex HMAC-SHA256 of the raw body with FILAS_META_APP_SECRET>"}


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
        "post": _operation("Start sending, or resume a paused send (only contacts not yet sent)",
                           {"202": _reply("Enfileirada", TASK_REPLY), **NOT_FOUND, **CONFLICT, **UNAVAILABLE},
                           params=[_path_param("campanha_id", DbIdConverter)])},
    "/api/campanhas/{campanha_id}/pausar": {
        "post": _operation("Pause a send between two chunks (the sends in flight end first); .../enviar resumes it",
                           {"200": _reply("Pausada"), "202": _reply("Pausa solicitada: para após os envios em "
                                                                    "andamento"),
                            **NOT_FOUND, **CONFLICT, **UNAVAILABLE},
                           params=[_path_param("campanha_id", DbIdConverter)])},
    "/api/campanhas/{campanha_id}/contatos": {
        "post": _operation("Import contacts from a CSV: the good rows go in (pending WhatsApp validation; a validated "
                           "campaign goes back to draft), each bad row is listed with its line and reason (no name, "
                           "invalid phone, repeated line, already in the campaign, opted out, too long)",
                           {"201": _reply("Contatos importados", IMPORT_REPLY),
                            "200": _reply("Nenhuma linha importada: todas rejeitadas", IMPORT_REPLY),
                            "400": _reply("Arquivo recusado por inteiro: vazio, sem as colunas nome e telefone, "
                                          "acima de FILAS_CONTACTS_IMPORT_MAX_ROWS linhas, sem as colunas do modelo"),
                            "409": _reply("A campanha está validando ou enviando"),
                            "413": _reply("Arquivo maior que FILAS_CONTACTS_IMPORT_MAX_BYTES"),
                            "415": _reply("Nem multipart/form-data nem text/csv"),
                            **NOT_FOUND, **UNAVAILABLE},
                           body=CONTACTS_CSV, params=[_path_param("campanha_id", DbIdConverter)])},
    "/api/dados-pessoais/apagar": {
        "post": _operation("Erase a patient's personal data (LGPD): every contact with the number, in every campaign, "
                           "and their messages; the number is opted out (kept as a keyed hash). Again: no error",
                           {"200": _reply("Apagados", ERASURE_REPLY), **UNAVAILABLE}, body=ErasureRequest)},
    "/api/optouts": {"post": _operation("Record an opt-out (recording it again is no error)",
                                        {"201": _reply("Registrado"), **UNAVAILABLE}, body=OptOutIn)},
    "/api/webhooks/evolution": {
        "post": {**_operation("Evolution API webhook: replies, opt-outs and delivery statuses",
                              {"200": _reply("Registrado ou ignorado"), **WEBHOOK_REFUSED, **UNAVAILABLE},
                              public=True, body=EvolutionWebhook, params=[WEBHOOK_TOKEN_QUERY]),
                 "description": "Events messages.upsert (a patient's reply; an opt-out word opts the number out) "
                                "and messages.update (SERVER_ACK, DELIVERY_ACK, READ/PLAYED, ERROR); any other "
                                "event is answered 200 and ignored. Authenticated by the header `Authorization: "
                                "Bearer <FILAS_WEBHOOK_TOKEN>`, set in the `headers` of the Evolution instance's "
                                "webhook configuration; `?token=` only when the header cannot be sent."}},
    "/api/webhooks/meta": {
        "get": {**_operation("WhatsApp Cloud API webhook verification (Meta's subscription handshake)",
                             {"200": _file("hub.challenge, echoed", "text/plain", {"type": "string"}),
                              "400": _reply("Sem hub.challenge"),
                              "403": _reply("hub.mode não é subscribe, hub.verify_token errado, ou "
                                            "FILAS_META_VERIFY_TOKEN não definido")},
                             public=True, params=META_VERIFICATION_PARAMS)},
        "post": {**_operation("WhatsApp Cloud API webhook: delivery statuses and patients' messages",
                              {"200": _reply("Registrado ou ignorado", {
                                  "sucesso": {"type": "boolean"}, "entregas": {"type": "integer"},
                                  "respostas": {"type": "integer"}, "ignorados": {"type": "integer"}}),
                               **WEBHOOK_REFUSED, **UNAVAILABLE},
                              public=True, body=MetaWebhook, params=[META_SIGNATURE]),
                 "description": "Statuses (sent, delivered, read, failed; biz_opaque_callback_data names our "
                                "message, which resolves a send cut off mid-request; failed with 131026 marks the "
                                "number invalid) and messages (replies; an opt-out word opts the number out). The "
                                "body must be signed: X-Hub-Signature-256 is sha256=<HMAC-SHA256 of the raw body "
                                "with FILAS_META_APP_SECRET>; nothing is read before it holds."}},
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
    for model in (BookingRequest, CampaignCreate, OptOutIn, ErasureRequest, EvolutionWebhook, MetaWebhook):
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
