"""A WhatsApp gateway simulator that speaks the Evolution API v2 shapes, in memory, for tests and demos.

Gateway routes (header `apikey`; unknown instance -> 404, then missing/wrong key -> 401):
  POST /chat/whatsappNumbers/<instance>  {"numbers": [...]}          -> 200 [{jid, exists, number}, ...]
  POST /message/sendText/<instance>      {"number", "text", "delay"?} -> 201 {key, message, status, ...}
  POST /chat/findMessages/<instance>     {"where": {"key": {"remoteJid", "id"?, "fromMe"?}}, "page"?, "offset"?}
                                         -> 200 {"messages": {total, pages, currentPage, records: [...]}}
  GET  /                                                                -> 200 welcome (health check)
Control routes (no auth), for tests and demos:
  GET  /_sim/messages   every accepted send, in order (`at`: unix time of acceptance)
  GET  /_sim/checks     every answered number check       GET  /_sim/webhooks  every webhook posted, in order
  GET  /_sim/config     current configuration              POST /_sim/config   change some keys (see CONFIG_KEYS)
  POST /_sim/reset      forget messages, checks and config  POST /_sim/reply    {"number", "text", "push_name"?}:
                        POST a "messages.upsert" webhook event to webhook_url and return what it answered.

Webhooks go to `webhook_url` with the headers of `webhook_headers`, as Evolution v2 sends the custom headers
of an instance's webhook configuration (e.g. {"Authorization": "Bearer <token>"}). After each accepted send
(when `status_webhooks` is on) a background thread posts, in order, "send.message" (the message, PENDING) and
"messages.update" with SERVER_ACK then DELIVERY_ACK, shaped as Evolution v2 posts them.

Who has WhatsApp: every Brazilian mobile (55 + DDD + 9 + 8 digits) unless registered in `without_whatsapp`.
Landlines (8-digit local numbers starting 2-5) and non-Brazilian numbers do not. A mobile registered in
`legacy_numbers` is known to WhatsApp by its old id without the 9th digit (accounts older than the 2012-2016
migration), so its jid is 55DD + 8 digits; it can be addressed by either form, as Evolution does.

Run: FILAS_SIM_EVOLUTION_API_KEY=secret python -m filas_simulators.whatsapp --host 127.0.0.1 --port 8102
"""

import argparse
import hmac
import json
import math
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from http import HTTPStatus
from typing import Any, ClassVar

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from filas_simulators import config_checks
from filas_simulators.control_routes import NO_WEBHOOK_URL, add_control_routes, reply_answer
from filas_simulators.gateway_state import GatewayState
from filas_simulators.phone_forms import canonical_mobile, legacy_form, user_part
from filas_simulators.serving import LocalServer
from filas_simulators.webhooks import WebhookPoster, post_recorded

API_KEY_ENV = "FILAS_SIM_EVOLUTION_API_KEY"
JID_SUFFIX = "@s.whatsapp.net"
FIND_MESSAGES_PAGE_SIZE = 50  # Evolution's default `offset` (records per page)
DELIVERY_STATUSES = ("SERVER_ACK", "DELIVERY_ACK")  # what messages.update reports for a delivered send
CONFIG_KEYS = (
    "without_whatsapp",  # numbers (any form) of Brazilian mobiles that have no WhatsApp
    "legacy_numbers",  # mobiles whose WhatsApp id lacks the 9th digit
    "fail_next_sends",  # the next N sendText calls answer fail_status
    "fail_next_checks",  # the next N whatsappNumbers calls answer fail_status
    "fail_status",  # 4xx/5xx status of those failures (default 500)
    "retry_after",  # seconds sent in a Retry-After header with those failures (default: none)
    "latency_ms",  # every gateway call waits this long before answering (timeout tests)
    "reverse_check_results",  # answer whatsappNumbers in reverse order (clients must map by number)
    "webhook_url",  # where /_sim/reply and the status webhooks post their events
    "webhook_headers",  # headers sent with every webhook (Evolution's webhook config "headers")
    "status_webhooks",  # after each accepted send, post send.message and messages.update events (default on)
)


# --- numbers ------------------------------------------------------------------------------------


def plain_jid(raw: str) -> str:
    """What Evolution's createJid makes of a number it could not resolve."""
    return raw if "@" in raw else f"{raw.removeprefix('+')}{JID_SUFFIX}"


# --- state --------------------------------------------------------------------------------------


@dataclass
class SimulatorState(GatewayState):
    """Everything the simulator remembers. Every public method takes the lock."""

    CONFIG_KEYS: ClassVar[tuple[str, ...]] = CONFIG_KEYS
    RECORDS: ClassVar[tuple[str, ...]] = ("messages", "checks", "webhooks")

    without_whatsapp: set[str] = field(default_factory=set)
    legacy_numbers: set[str] = field(default_factory=set)
    fail_next_sends: int = 0
    fail_next_checks: int = 0
    fail_status: int = 500
    retry_after: int | None = None
    latency_ms: int = 0
    reverse_check_results: bool = False
    webhook_url: str | None = None
    webhook_headers: dict[str, str] = field(default_factory=dict)
    status_webhooks: bool = True
    messages: list[dict[str, Any]] = field(default_factory=list)
    checks: list[list[str]] = field(default_factory=list)
    webhooks: list[dict[str, Any]] = field(default_factory=list)

    def jid_of(self, raw: str) -> str | None:
        """The WhatsApp id of a number (any form), or None if it has no WhatsApp."""
        mobile = canonical_mobile(raw)
        with self._lock:
            if mobile is None or mobile in self.without_whatsapp:
                return None
            user = legacy_form(mobile) if mobile in self.legacy_numbers else mobile
        return user + JID_SUFFIX

    def take_failure(self, counter: str) -> tuple[int, int | None] | None:
        """(status, retry_after) if this call must fail, consuming one of `counter`'s failures."""
        with self._lock:
            remaining = getattr(self, counter)
            if remaining <= 0:
                return None
            setattr(self, counter, remaining - 1)
            return self.fail_status, self.retry_after

    def record_check(self, numbers: list[str], epoch: int) -> None:
        self.record("checks", list(numbers), epoch)

    def record_message(self, message: dict[str, Any], epoch: int) -> None:
        self.record("messages", message, epoch)

    def sent_to(self, jid: str) -> list[dict[str, Any]]:
        """Accepted messages whose chat is `jid`'s (either form of a Brazilian mobile, as sendText takes)."""
        wanted = canonical_mobile(jid) or user_part(jid) or jid
        with self._lock:
            return [m for m in self.messages if (m["e164"] or user_part(m["remoteJid"])) == wanted]


# --- configuration validation -------------------------------------------------------------------


_VALIDATORS: dict[str, Callable[[str, Any], Any]] = {
    "without_whatsapp": config_checks.mobiles,
    "legacy_numbers": config_checks.mobiles,
    "fail_next_sends": config_checks.count,
    "fail_next_checks": config_checks.count,
    "fail_status": config_checks.error_status,
    "retry_after": config_checks.optional_count,
    "latency_ms": config_checks.count,
    "reverse_check_results": config_checks.flag,
    "webhook_url": config_checks.url,
    "webhook_headers": config_checks.headers,
    "status_webhooks": config_checks.flag,
}


def validate_config(body: Any) -> dict[str, Any]:
    return config_checks.validate(body, _VALIDATORS)


# --- Evolution shapes ---------------------------------------------------------------------------


def evolution_error(status: int, message: Any, retry_after: int | None = None) -> Response:
    """Evolution's error body: {"status", "error": reason phrase, "response": {"message"}}."""
    body = {"status": status, "error": HTTPStatus(status).phrase, "response": {"message": message}}
    response = jsonify(body)
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def new_message_id() -> str:
    """Looks like the ids WhatsApp Web clients (Baileys) give: 3EB0 + uppercase hex."""
    return "3EB0" + uuid.uuid4().hex[:18].upper()


def sent_message_body(jid: str, text: str, message_id: str, timestamp: int, instance_id: str) -> dict[str, Any]:
    return {
        "key": {"remoteJid": jid, "fromMe": True, "id": message_id},
        "pushName": "",
        "status": "PENDING",
        "message": {"conversation": text},
        "messageType": "conversation",
        "messageTimestamp": timestamp,
        "instanceId": instance_id,
        "source": "unknown",
    }


def new_record_id() -> str:
    """Looks like Evolution's database ids of stored messages (cuids)."""
    return "cm" + uuid.uuid4().hex[:23]


def webhook_event(event: str, instance: str, data: Any) -> dict[str, Any]:
    """The envelope of every Evolution v2 webhook event."""
    return {
        "event": event,
        "instance": instance,
        "data": data,
        "date_time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "sender": f"5585900000000{JID_SUFFIX}",
    }


def upsert_event(instance: str, instance_id: str, jid: str, text: str, push_name: str) -> dict[str, Any]:
    """A "messages.upsert" webhook event as Evolution v2 posts it for an incoming text message."""
    return webhook_event("messages.upsert", instance, {
        "key": {"remoteJid": jid, "fromMe": False, "id": new_message_id()},
        "pushName": push_name,
        "status": "DELIVERY_ACK",
        "message": {"conversation": text},
        "messageType": "conversation",
        "messageTimestamp": int(time.time()),
        "instanceId": instance_id,
        "source": "android",
    })


def status_update(message: dict[str, Any], status: str, instance_id: str) -> dict[str, Any]:
    """The data of a "messages.update" event about one of our messages (Evolution v2, Baileys channel)."""
    return {
        "messageId": message["record_id"],
        "keyId": message["id"],
        "remoteJid": message["remoteJid"],
        "fromMe": True,
        "participant": message["remoteJid"],
        "status": status,
        "instanceId": instance_id,
    }


def message_record(message: dict[str, Any], instance_id: str) -> dict[str, Any]:
    """A stored message as /chat/findMessages lists it."""
    return {
        "id": message["record_id"],
        "key": {"id": message["id"], "fromMe": True, "remoteJid": message["remoteJid"]},
        "pushName": "",
        "messageType": "conversation",
        "message": {"conversation": message["text"]},
        "messageTimestamp": message["timestamp"],
        "instanceId": instance_id,
        "source": "unknown",
        "contextInfo": None,
        "MessageUpdate": [],
    }


def find_messages_answer(messages: list[dict[str, Any]], page: int, per_page: int,
                         instance_id: str) -> dict[str, Any]:
    """Evolution v2's findMessages answer: newest first, one page of records."""
    newest_first = sorted(messages, key=lambda m: m["at"], reverse=True)
    records = newest_first[(page - 1) * per_page : page * per_page]
    return {"messages": {"total": len(messages), "pages": math.ceil(len(messages) / per_page),
                         "currentPage": page, "records": [message_record(m, instance_id) for m in records]}}


# --- the app ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Gateway:
    """The simulated Evolution server: its instance, key and state."""

    api_key: str
    instance: str
    instance_id: str
    state: SimulatorState
    poster: WebhookPoster

    def guard(self, instance: str) -> Response | None:
        """Evolution's guard order: instance exists, then api key."""
        if instance != self.instance:
            return evolution_error(404, [f'The "{instance}" instance does not exist'])
        given = request.headers.get("apikey", "")
        if not given or not hmac.compare_digest(given.encode(), self.api_key.encode()):
            return evolution_error(401, "Unauthorized")
        return None

    def delay_and_fail(self, counter: str) -> Response | None:
        """Simulated latency, then an injected failure if one is pending."""
        latency = self.state.config()["latency_ms"]
        if latency:
            time.sleep(latency / 1000)
        failure = self.state.take_failure(counter)
        if failure is None:
            return None
        status, retry_after = failure
        return evolution_error(status, [f"simulated failure ({status})"], retry_after)

    def refuse(self, instance: str, counter: str) -> Response | None:
        refused = self.guard(instance)
        return refused if refused is not None else self.delay_and_fail(counter)

    def lookup(self, number: str) -> dict[str, Any]:
        jid = self.state.jid_of(number)
        return {"jid": jid or plain_jid(number), "exists": jid is not None, "number": number}

    def check_numbers(self, instance: str) -> Response | tuple[Response, int]:
        refused = self.refuse(instance, "fail_next_checks")
        if refused is not None:
            return refused
        body = request.get_json(silent=True)
        numbers = body.get("numbers") if isinstance(body, dict) else None
        if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
            return evolution_error(400, ['instance requires property "numbers" (an array of strings)'])
        self.state.record_check(numbers, g.sim_epoch)
        results = [self.lookup(number) for number in numbers]
        if self.state.config()["reverse_check_results"]:
            results.reverse()
        return jsonify(results), 200

    def send_text(self, instance: str) -> Response | tuple[Response, int]:
        refused = self.refuse(instance, "fail_next_sends")
        if refused is not None:
            return refused
        body = request.get_json(silent=True)
        problem = _send_text_problem(body)
        if problem:
            return evolution_error(400, [problem])
        number, text = body["number"], body["text"]
        jid = self.state.jid_of(number)
        if jid is None:
            return evolution_error(400, [{"jid": plain_jid(number), "exists": False, "number": number}])
        return jsonify(self._accept(number, jid, text, body.get("delay"))), 201

    def _accept(self, number: str, jid: str, text: str, delay: int | None) -> dict[str, Any]:
        now = time.time()
        message = {
            "id": new_message_id(),
            "record_id": new_record_id(),
            "number": number,
            "e164": canonical_mobile(number),
            "remoteJid": jid,
            "text": text,
            "delay": delay,
            "timestamp": int(now),
            "at": now,
        }
        self.state.record_message(message, g.sim_epoch)
        body = sent_message_body(jid, text, message["id"], message["timestamp"], self.instance_id)
        self._post_statuses_later(message, body)
        return body

    def find_messages(self, instance: str) -> Response | tuple[Response, int]:
        refused = self.guard(instance)
        if refused is not None:
            return refused
        query = _find_messages_query(request.get_json(silent=True))
        if isinstance(query, str):
            return evolution_error(400, [query])
        key, page, per_page = query
        found = [m for m in self.state.sent_to(key["remoteJid"])
                 if key.get("id") in (None, m["id"]) and key.get("fromMe") in (None, True)]
        return jsonify(find_messages_answer(found, page, per_page, self.instance_id)), 200

    def _post_statuses_later(self, message: dict[str, Any], sent_body: dict[str, Any]) -> None:
        config = self.state.config()
        if not config["webhook_url"] or not config["status_webhooks"]:
            return
        events = [webhook_event("send.message", self.instance, sent_body)]
        events += [webhook_event("messages.update", self.instance, status_update(message, status, self.instance_id))
                   for status in DELIVERY_STATUSES]
        server_url, epoch = request.host_url.rstrip("/"), g.sim_epoch
        self.poster.post_in_order([partial(self.deliver, event, server_url, epoch) for event in events],
                                  self.state, epoch)

    def deliver(self, event: dict[str, Any], server_url: str, epoch: int) -> tuple[int, Any]:
        """POST one event to webhook_url with webhook_headers, and record what the receiver answered."""
        config = self.state.config()
        url = config["webhook_url"]
        # Evolution also sends these: where the event goes, its own URL and the instance key.
        event |= {"destination": url, "server_url": server_url, "apikey": self.api_key}
        return post_recorded(self.state, epoch, url, json.dumps(event).encode(), config["webhook_headers"],
                             {"event": event["event"], "url": url})

    def reply(self) -> tuple[Response, int]:
        body = request.get_json(silent=True)
        body = body if isinstance(body, dict) else {}
        number, text = body.get("number"), body.get("text")
        if not isinstance(number, str) or not isinstance(text, str):
            return jsonify(error='"number" and "text" (strings) are required'), 400
        jid = self.state.jid_of(number)
        if jid is None:
            return jsonify(error="this number has no WhatsApp, it cannot reply"), 400
        if not self.state.config()["webhook_url"]:
            return jsonify(error=NO_WEBHOOK_URL), 409
        event = upsert_event(self.instance, self.instance_id, jid, text, str(body.get("push_name", "Paciente")))
        return reply_answer(event, partial(self.deliver, event, request.host_url.rstrip("/"), g.sim_epoch))


def _find_messages_query(body: Any) -> tuple[dict[str, Any], int, int] | str:
    """(where.key, page, records per page) of a findMessages body, or what is wrong with it."""
    where = body.get("where") if isinstance(body, dict) else None
    key = where.get("key") if isinstance(where, dict) else None
    if not isinstance(key, dict) or not isinstance(key.get("remoteJid"), str) or not key["remoteJid"]:
        return 'findMessages requires "where": {"key": {"remoteJid": ...}} (this simulator lists one chat)'
    page, per_page = body.get("page", 1), body.get("offset", FIND_MESSAGES_PAGE_SIZE)
    for name, value in (("page", page), ("offset", per_page)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            return f'"{name}" must be an integer >= 1'
    return key, page, per_page


def _send_text_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    if not isinstance(body.get("number"), str) or not body["number"]:
        return 'instance requires property "number"'
    if not isinstance(body.get("text"), str) or not body["text"]:
        return 'instance requires property "text"'
    delay = body.get("delay")
    if delay is not None and (isinstance(delay, bool) or not isinstance(delay, int) or delay < 0):
        return '"delay" must be an integer >= 0 (milliseconds)'
    return None


def create_app(api_key: str, instance: str) -> Flask:
    """A fresh simulator with its own in-memory state (reachable as app.extensions["whatsapp_simulator"])."""
    if not api_key or not instance:
        raise ValueError("api_key and instance must not be empty")
    app = Flask(__name__)
    poster = WebhookPoster(f"evolution-sim-{instance}")
    gateway = _Gateway(api_key, instance, str(uuid.uuid4()), SimulatorState(), poster)
    app.extensions["whatsapp_simulator"] = gateway.state
    _add_gateway_routes(app, gateway)
    _add_control_routes(app, gateway)
    _add_error_handlers(app)
    return app


def _add_gateway_routes(app: Flask, gateway: _Gateway) -> None:
    app.post("/chat/whatsappNumbers/<instance>")(gateway.check_numbers)
    app.post("/message/sendText/<instance>")(gateway.send_text)
    app.post("/chat/findMessages/<instance>")(gateway.find_messages)

    @app.get("/")
    def welcome() -> Response:
        return jsonify(status=200, message="Welcome to the Evolution API (Filas simulator), it is working!")


def _add_control_routes(app: Flask, gateway: _Gateway) -> None:
    add_control_routes(app, gateway.state, validate_config, gateway.reply)

    @app.get("/_sim/checks")
    def checks() -> Response:
        return jsonify(gateway.state.snapshot("checks"))


def _add_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        if status == 404:  # Evolution's catch-all answer for unknown routes
            return evolution_error(404, [f"Cannot {request.method} {request.path}"])
        return evolution_error(status, [error.description])


# --- command line -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="WhatsApp gateway simulator (Evolution API v2 shapes)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8102)
    parser.add_argument("--instance", default="filas", help="Evolution instance name (default: filas)")
    args = parser.parse_args(argv)
    api_key = os.environ.get(API_KEY_ENV, "")
    if not api_key:
        sys.exit(
            f"error: {API_KEY_ENV} is not set. Set it to the api key clients must send in the `apikey` header "
            f"(the campaign worker sends FILAS_EVOLUTION_API_KEY), e.g. {API_KEY_ENV}=dev-key"
        )
    try:
        server = LocalServer(create_app(api_key, args.instance), args.host, args.port, quiet=False)
    except OSError as error:
        sys.exit(f"error: cannot listen on {args.host}:{args.port}: {error}")
    print(f"WhatsApp simulator (Evolution API v2) on {server.url}, instance {args.instance!r}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
