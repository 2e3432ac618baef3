"""A WhatsApp Cloud API (Meta Graph API) simulator, in memory, for tests and demos.

Gateway routes (header `Authorization: Bearer <access token>`; a wrong token -> 401 code 190, then an unknown
phone number id -> 400 code 100):
  POST /<version>/<phone_number_id>/messages  {"messaging_product": "whatsapp", "to", "type": "template" | "text",
        "template": {"name", "language": {"code"}, "components"?} | "text": {"body"}, "biz_opaque_callback_data"?}
        -> 200 {"messaging_product", "contacts": [{"input", "wa_id"}], "messages": [{"id": "wamid..."}]}
  GET  /                                                                         -> 200 (health check)
Errors are Graph-shaped: {"error": {"message", "type", "code", "error_data": {"messaging_product", "details"},
"fbtrace_id"}}. Text (no template) to a number that did not write in the last 24 h -> 400 code 131047; over
`throughput_per_second` -> 400 code 130429; a template missing from `templates` (when set) -> 404 code 132001.

Webhooks go to `webhook_url` in Meta's envelope, signed `X-Hub-Signature-256: sha256=<HMAC-SHA256 of the body
with the app secret>`. After each accepted send a background thread posts its statuses, in order: "sent" then
"delivered", or, for a number in `undeliverable`, "failed" with error 131026. Each status echoes the send's
biz_opaque_callback_data.

Control routes (no auth), for tests and demos:
  GET  /_sim/messages   every accepted send, in order (`at`: unix time of acceptance, `to`, `text`, `template`)
  GET  /_sim/webhooks   every webhook posted, in order    GET/POST /_sim/config  (see CONFIG_KEYS)
  POST /_sim/reset      forget messages, webhooks, replies and config
  POST /_sim/reply      {"number", "text", "name"?}: the patient writes, which opens the 24 h window (even with
                        no webhook_url); POSTs an inbound "messages" webhook to webhook_url and returns what it
                        answered (409 without a webhook_url, 502 when it is unreachable).

Every number is a WhatsApp user unless listed in `undeliverable` (its sends are accepted, then fail, as the
Cloud API does: it has no number check). A Brazilian mobile in `legacy_numbers` is known by its wa_id without
the 9th digit.

Run: FILAS_SIM_META_ACCESS_TOKEN=token FILAS_SIM_META_APP_SECRET=secret \\
     python -m filas_simulators.meta_cloud --host 127.0.0.1 --port 8103 --phone-number-id 100000000000001
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, ClassVar

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from filas_simulators import config_checks
from filas_simulators.config_checks import ConfigError
from filas_simulators.control_routes import NO_WEBHOOK_URL, add_control_routes, reply_answer
from filas_simulators.gateway_state import GatewayState
from filas_simulators.phone_forms import canonical_mobile, legacy_form
from filas_simulators.serving import LocalServer
from filas_simulators.webhooks import WebhookPoster, post_recorded

ACCESS_TOKEN_ENV = "FILAS_SIM_META_ACCESS_TOKEN"
APP_SECRET_ENV = "FILAS_SIM_META_APP_SECRET"
DEFAULT_PHONE_NUMBER_ID = "100000000000001"
DEFAULT_DISPLAY_NUMBER = "558540040000"
DEFAULT_WABA_ID = "200000000000002"
WINDOW_SECONDS = 24 * 3600  # free-form text only this long after the patient last wrote
VERSION = re.compile(r"v[0-9]{1,2}\.[0-9]")
SIGNATURE_HEADER = "X-Hub-Signature-256"
CONFIG_KEYS = (
    "undeliverable",  # numbers whose sends are accepted, then fail with a 131026 status webhook
    "legacy_numbers",  # Brazilian mobiles whose wa_id lacks the 9th digit
    "templates",  # approved template names; empty: every name is approved
    "fail_next_sends",  # the next N sends answer fail_status with fail_code
    "fail_status",  # HTTP status of those failures (default 500)
    "fail_code",  # Graph error code of those failures (default 131000, "Something went wrong")
    "retry_after",  # seconds sent in a Retry-After header with those failures (default: none)
    "latency_ms",  # every send waits this long before answering (timeout tests)
    "throughput_per_second",  # accepted sends per second; past it, 130429 (0: no limit)
    "webhook_url",  # where statuses and /_sim/reply post their webhooks
    "app_secret",  # signs the webhooks (X-Hub-Signature-256); empty: unsigned
)

# Graph error code -> (message, details), as the Cloud API writes them.
GRAPH_ERRORS: dict[int, tuple[str, str]] = {
    100: ("(#100) Invalid parameter", "Invalid parameter"),
    130429: ("(#130429) Rate limit hit", "Cloud API message throughput has been reached."),
    131009: ("(#131009) Parameter value is not valid", "Recipient phone number not valid"),
    131000: ("(#131000) Something went wrong", "Something went wrong"),
    131016: ("(#131016) Service unavailable", "A service is temporarily unavailable."),
    131026: ("(#131026) Message undeliverable", "Message Undeliverable."),
    131047: ("(#131047) Re-engagement message",
             "Message failed to send because more than 24 hours have passed since the customer last replied to "
             "this number."),
    131048: ("(#131048) Spam rate limit hit",
             "Message failed to send because there are restrictions on how many messages can be sent from this "
             "phone number."),
    131056: ("(#131056) (Business Account, Consumer Account) pair rate limit hit",
             "Message failed to send because there were too many messages sent from this phone number to the same "
             "phone number in a short period of time."),
    132001: ("(#132001) Template name does not exist in the translation", "template name does not exist"),
}


# --- state --------------------------------------------------------------------------------------


@dataclass
class SimulatorState(GatewayState):
    """Everything the simulator remembers. Every public method takes the lock."""

    CONFIG_KEYS: ClassVar[tuple[str, ...]] = CONFIG_KEYS
    RECORDS: ClassVar[tuple[str, ...]] = ("messages", "webhooks", "replied_at", "accepted_at")

    undeliverable: set[str] = field(default_factory=set)
    legacy_numbers: set[str] = field(default_factory=set)
    templates: list[str] = field(default_factory=list)
    fail_next_sends: int = 0
    fail_status: int = 500
    fail_code: int = 131000
    retry_after: int | None = None
    latency_ms: int = 0
    throughput_per_second: int = 0
    webhook_url: str | None = None
    app_secret: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    replied_at: dict[str, float] = field(default_factory=dict)  # number -> when it last wrote
    accepted_at: deque[float] = field(default_factory=deque)  # the last second's accepted sends

    def reset(self, app_secret: str = "") -> None:
        self._reset_to(SimulatorState(app_secret=app_secret))

    def wa_id_of(self, number: str) -> str:
        mobile = canonical_mobile(number)
        with self._lock:
            return legacy_form(mobile) if mobile and mobile in self.legacy_numbers else mobile or number

    def is_undeliverable(self, number: str) -> bool:
        with self._lock:
            return (canonical_mobile(number) or number) in self.undeliverable

    def note_reply(self, number: str, at: float) -> None:
        with self._lock:
            self.replied_at[canonical_mobile(number) or number] = at

    def in_window(self, number: str, now: float) -> bool:
        with self._lock:
            replied = self.replied_at.get(canonical_mobile(number) or number)
        return replied is not None and now - replied < WINDOW_SECONDS

    def take_failure(self) -> tuple[int, int, int | None] | None:
        """(status, code, retry_after) if this send must fail, consuming one failure."""
        with self._lock:
            if self.fail_next_sends <= 0:
                return None
            self.fail_next_sends -= 1
            return self.fail_status, self.fail_code, self.retry_after

    def take_throughput(self, now: float) -> bool:
        """Whether one more send fits in the last second's throughput."""
        with self._lock:
            while self.accepted_at and now - self.accepted_at[0] >= 1.0:
                self.accepted_at.popleft()
            if self.throughput_per_second and len(self.accepted_at) >= self.throughput_per_second:
                return False
            self.accepted_at.append(now)
            return True


# --- configuration validation -------------------------------------------------------------------


def _numbers(key: str, value: Any) -> set[str]:
    """Phone numbers kept in their canonical form (a Brazilian mobile's 13 digits)."""
    if not isinstance(value, list) or not all(isinstance(item, str) and item.isdigit() for item in value):
        raise ConfigError(f"{key} must be a list of numbers (digits)")
    return {canonical_mobile(item) or item for item in value}


def _names(key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ConfigError(f"{key} must be a list of names")
    return list(value)


def _graph_code(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key} must be a Graph error code (a positive integer, e.g. 131000)")
    return value


def _secret(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be a string")
    return value


_VALIDATORS: dict[str, Callable[[str, Any], Any]] = {
    "undeliverable": _numbers,
    "legacy_numbers": config_checks.mobiles,
    "templates": _names,
    "fail_next_sends": config_checks.count,
    "fail_status": config_checks.error_status,
    "fail_code": _graph_code,
    "retry_after": config_checks.optional_count,
    "latency_ms": config_checks.count,
    "throughput_per_second": config_checks.count,
    "webhook_url": config_checks.url,
    "app_secret": _secret,
}


def validate_config(body: Any) -> dict[str, Any]:
    return config_checks.validate(body, _VALIDATORS)


# --- Graph shapes -------------------------------------------------------------------------------


def graph_error(status: int, code: int, message: str | None = None, details: str | None = None,
                retry_after: int | None = None, error_type: str = "OAuthException") -> Response:
    known_message, known_details = GRAPH_ERRORS.get(code, (f"(#{code}) Error", ""))
    error: dict[str, Any] = {"message": message or known_message, "type": error_type, "code": code}
    if details or known_details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details or known_details}
    error["fbtrace_id"] = "A" + uuid.uuid4().hex[:22]
    response = jsonify(error=error)
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def new_message_id() -> str:
    """Looks like the Cloud API's ids: "wamid." + base64."""
    return "wamid." + base64.b64encode(b"\x15\x02\x00\x11\x18\x12" + uuid.uuid4().bytes * 2).decode()


def signature(body: bytes, app_secret: str) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def status_entry(message: dict[str, Any], status: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": message["id"], "status": status, "timestamp": str(int(time.time())),
                             "recipient_id": message["wa_id"]}
    if message["biz_opaque_callback_data"] is not None:
        entry["biz_opaque_callback_data"] = message["biz_opaque_callback_data"]
    if errors:
        entry["errors"] = errors
    return entry


def undeliverable_error() -> dict[str, Any]:
    _, details = GRAPH_ERRORS[131026]
    return {"code": 131026, "title": "Message undeliverable", "message": "Message undeliverable",
            "error_data": {"details": details},
            "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}


def inbound_value(wa_id: str, name: str, text: str) -> dict[str, Any]:
    return {"contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": new_message_id(), "timestamp": str(int(time.time())),
                          "type": "text", "text": {"body": text}}]}


def _send_problem(body: Any) -> str | None:
    """What a Graph 400 (code 100) would say about a send's body, or None."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object"
    if body.get("messaging_product") != "whatsapp":
        return "The parameter messaging_product is required and must be 'whatsapp'"
    if not isinstance(body.get("to"), str) or not body["to"]:
        return "The parameter to is required"
    if not re.fullmatch(r"\+?[0-9]{8,15}", body["to"]):
        return "Recipient phone number not valid: 'to' must be a phone number in international format"
    callback = body.get("biz_opaque_callback_data")
    if callback is not None and (not isinstance(callback, str) or len(callback) > 512):
        return "biz_opaque_callback_data must be a string of at most 512 characters"
    kind = body.get("type", "text")
    if kind == "text":
        return _text_problem(body.get("text"))
    if kind == "template":
        return _template_problem(body.get("template"))
    return f"Unsupported message type {kind!r} (this simulator sends text and template)"


def _text_problem(text: Any) -> str | None:
    if not isinstance(text, dict) or not isinstance(text.get("body"), str) or not text["body"]:
        return "The parameter text['body'] is required"
    return None


def _template_problem(template: Any) -> str | None:
    if not isinstance(template, dict) or not isinstance(template.get("name"), str) or not template["name"]:
        return "The parameter template['name'] is required"
    language = template.get("language")
    if not isinstance(language, dict) or not isinstance(language.get("code"), str):
        return "The parameter template['language']['code'] is required"
    components = template.get("components", [])
    if not isinstance(components, list) or not all(_is_component(c) for c in components):
        return "template['components'] must be a list of {type, parameters: [{type: text, text}]}"
    return None


def _is_component(component: Any) -> bool:
    if not isinstance(component, dict) or not isinstance(component.get("type"), str):
        return False
    parameters = component.get("parameters", [])
    return isinstance(parameters, list) and all(
        isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in parameters
    )


def _body_parameters(template: dict[str, Any]) -> list[str]:
    return [p["text"] for c in template.get("components", []) if c["type"] == "body" for p in c.get("parameters", [])]


# --- the app ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CloudApi:
    """The simulated Cloud API: one business number, its token, its app secret and state."""

    access_token: str
    phone_number_id: str
    display_phone_number: str
    waba_id: str
    default_app_secret: str
    state: SimulatorState
    poster: WebhookPoster

    def guard(self, version: str, phone_number_id: str) -> Response | None:
        """Graph's order: the token, then the path."""
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), self.access_token.encode()):
            return graph_error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        if not VERSION.fullmatch(version):
            return graph_error(400, 2500, f"Unknown path components: /{version}/{phone_number_id}/messages")
        if phone_number_id != self.phone_number_id:
            return graph_error(400, 100, f"Unsupported post request. Object with ID '{phone_number_id}' does not "
                               "exist, cannot be loaded due to missing permissions, or does not support this "
                               "operation", error_type="GraphMethodException")
        return None

    def send(self, version: str, phone_number_id: str) -> Response | tuple[Response, int]:
        refused = self.guard(version, phone_number_id) or self._delay_and_fail()
        if refused is not None:
            return refused
        body = request.get_json(silent=True)
        problem = _send_problem(body)
        if problem:
            return graph_error(400, 100, details=problem)
        refused = self._policy(body)
        if refused is not None:
            return refused
        return jsonify(self._accept(body)), 200

    def _delay_and_fail(self) -> Response | None:
        latency = self.state.config()["latency_ms"]
        if latency:
            time.sleep(latency / 1000)
        failure = self.state.take_failure()
        if failure is None:
            return None
        status, code, retry_after = failure
        return graph_error(status, code, retry_after=retry_after)

    def _policy(self, body: dict[str, Any]) -> Response | None:
        """What the Cloud API refuses in a well-formed send: templates, the 24 h window, throughput."""
        to, templates = body["to"].removeprefix("+"), self.state.config()["templates"]
        if body.get("type") == "template" and templates and body["template"]["name"] not in templates:
            return graph_error(404, 132001, details=f"template name ({body['template']['name']}) does not exist in "
                               f"{body['template']['language']['code']}")
        now = time.time()
        if body.get("type", "text") == "text" and not self.state.in_window(to, now):
            return graph_error(400, 131047)
        if not self.state.take_throughput(now):
            return graph_error(400, 130429)
        return None

    def _accept(self, body: dict[str, Any]) -> dict[str, Any]:
        to = body["to"].removeprefix("+")
        template = body.get("template")
        message = {
            "id": new_message_id(),
            "to": to,
            "wa_id": self.state.wa_id_of(to),
            "type": body.get("type", "text"),
            "text": body["text"]["body"] if template is None else None,
            "template": None if template is None else {"name": template["name"],
                                                       "language": template["language"]["code"],
                                                       "parameters": _body_parameters(template)},
            "biz_opaque_callback_data": body.get("biz_opaque_callback_data"),
            "at": time.time(),
            "payload": body,
        }
        self.state.record("messages", message, g.sim_epoch)
        self._post_statuses_later(message)
        answer: dict[str, Any] = {"messaging_product": "whatsapp",
                                  "contacts": [{"input": body["to"], "wa_id": message["wa_id"]}],
                                  "messages": [{"id": message["id"]}]}
        if template is not None:
            answer["messages"][0]["message_status"] = "accepted"
        return answer

    def _post_statuses_later(self, message: dict[str, Any]) -> None:
        if not self.state.config()["webhook_url"]:
            return
        if self.state.is_undeliverable(message["to"]):
            statuses = [status_entry(message, "failed", [undeliverable_error()])]
        else:
            statuses = [status_entry(message, "sent"), status_entry(message, "delivered")]
        epoch = g.sim_epoch
        self.poster.post_in_order([partial(self.deliver, {"statuses": [entry]}, f"status {entry['status']}", epoch)
                                   for entry in statuses], self.state, epoch)

    def envelope(self, value: dict[str, Any]) -> dict[str, Any]:
        metadata = {"display_phone_number": self.display_phone_number, "phone_number_id": self.phone_number_id}
        return {"object": "whatsapp_business_account",
                "entry": [{"id": self.waba_id, "changes": [
                    {"value": {"messaging_product": "whatsapp", "metadata": metadata, **value},
                     "field": "messages"}]}]}

    def deliver(self, value: dict[str, Any], what: str, epoch: int) -> tuple[int, Any]:
        """POST one signed webhook to webhook_url and record what the receiver answered."""
        config = self.state.config()
        url, event = config["webhook_url"], self.envelope(value)
        raw = json.dumps(event).encode()
        headers = {SIGNATURE_HEADER: signature(raw, config["app_secret"])} if config["app_secret"] else {}
        return post_recorded(self.state, epoch, url, raw, headers, {"what": what, "url": url, "event": event})

    def reply(self) -> tuple[Response, int]:
        body = request.get_json(silent=True)
        body = body if isinstance(body, dict) else {}
        number, text = body.get("number"), body.get("text")
        if not isinstance(number, str) or not number.isdigit() or not isinstance(text, str):
            return jsonify(error='"number" (digits) and "text" (a string) are required'), 400
        self.state.note_reply(number, time.time())
        if not self.state.config()["webhook_url"]:
            return jsonify(error=NO_WEBHOOK_URL), 409
        value = inbound_value(self.state.wa_id_of(number), str(body.get("name", "Paciente")), text)
        return reply_answer(self.envelope(value), partial(self.deliver, value, "message", g.sim_epoch))


def create_app(access_token: str, phone_number_id: str = DEFAULT_PHONE_NUMBER_ID, *, app_secret: str = "",
               display_phone_number: str = DEFAULT_DISPLAY_NUMBER, waba_id: str = DEFAULT_WABA_ID) -> Flask:
    """A fresh simulator with its own in-memory state (reachable as app.extensions["meta_cloud_simulator"])."""
    if not access_token or not phone_number_id:
        raise ValueError("access_token and phone_number_id must not be empty")
    app = Flask(__name__)
    api = _CloudApi(access_token, phone_number_id, display_phone_number, waba_id, app_secret,
                    SimulatorState(app_secret=app_secret), WebhookPoster(f"meta-sim-{phone_number_id}"))
    app.extensions["meta_cloud_simulator"] = api.state
    app.post("/<version>/<phone_number_id>/messages")(api.send)
    app.get("/")(lambda: jsonify(simulator="WhatsApp Cloud API (Filas)", phone_number_id=phone_number_id))
    add_control_routes(app, api.state, validate_config, api.reply,
                       reset_state=lambda: api.state.reset(api.default_app_secret))
    _add_error_handlers(app)
    return app


def _add_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        if error.code == 404:  # Graph's answer for a path it does not know
            return graph_error(400, 2500, f"Unknown path components: {request.path}")
        return graph_error(error.code or 500, 1, error.description or "An unknown error occurred")


# --- command line -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="WhatsApp Cloud API (Meta) simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8103)
    parser.add_argument("--phone-number-id", default=DEFAULT_PHONE_NUMBER_ID)
    parser.add_argument("--display-phone-number", default=DEFAULT_DISPLAY_NUMBER)
    args = parser.parse_args(argv)
    token, app_secret = os.environ.get(ACCESS_TOKEN_ENV, ""), os.environ.get(APP_SECRET_ENV, "")
    if not token:
        sys.exit(
            f"error: {ACCESS_TOKEN_ENV} is not set. Set it to the access token clients must send as "
            f"`Authorization: Bearer <token>` (the campaign worker sends FILAS_META_ACCESS_TOKEN), e.g. "
            f"{ACCESS_TOKEN_ENV}=dev-token; and {APP_SECRET_ENV} to sign webhooks (FILAS_META_APP_SECRET)"
        )
    app = create_app(token, args.phone_number_id, app_secret=app_secret, display_phone_number=args.display_phone_number)
    try:
        server = LocalServer(app, args.host, args.port, quiet=False)
    except OSError as error:
        sys.exit(f"error: cannot listen on {args.host}:{args.port}: {error}")
    signed = "signed" if app_secret else f"UNSIGNED ({APP_SECRET_ENV} is not set)"
    print(f"WhatsApp Cloud API simulator on {server.url}, phone number id {args.phone_number_id!r}, "
          f"webhooks {signed}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
