"""A WhatsApp gateway simulator that speaks the Evolution API v2 shapes, in memory, for tests and demos.

Gateway routes (header `apikey`; unknown instance -> 404, then missing/wrong key -> 401):
  POST /chat/whatsappNumbers/<instance>  {"numbers": [...]}          -> 200 [{jid, exists, number}, ...]
  POST /message/sendText/<instance>      {"number", "text", "delay"?} -> 201 {key, message, status, ...}
  GET  /                                                                -> 200 welcome (health check)
Control routes (no auth), for tests and demos:
  GET  /_sim/messages   every accepted send, in order      GET  /_sim/checks   every answered number check
  GET  /_sim/config     current configuration              POST /_sim/config   change some keys (see CONFIG_KEYS)
  POST /_sim/reset      forget messages, checks and config  POST /_sim/reply    {"number", "text", "push_name"?}:
                        POST a "messages.upsert" webhook event to webhook_url and return what it answered.

Who has WhatsApp: every Brazilian mobile (55 + DDD + 9 + 8 digits) unless registered in `without_whatsapp`.
Landlines (8-digit local numbers starting 2-5) and non-Brazilian numbers do not. A mobile registered in
`legacy_numbers` is known to WhatsApp by its old id without the 9th digit (accounts older than the 2012-2016
migration), so its jid is 55DD + 8 digits; it can be addressed by either form, as Evolution does.

Run: FILAS_SIM_EVOLUTION_API_KEY=secret python -m filas_simulators.whatsapp --host 127.0.0.1 --port 8102
"""

import argparse
import hmac
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from filas_simulators.serving import LocalServer

API_KEY_ENV = "FILAS_SIM_EVOLUTION_API_KEY"
JID_SUFFIX = "@s.whatsapp.net"
WEBHOOK_TIMEOUT_SECONDS = 10.0
CONFIG_KEYS = (
    "without_whatsapp",  # numbers (any form) of Brazilian mobiles that have no WhatsApp
    "legacy_numbers",  # mobiles whose WhatsApp id lacks the 9th digit
    "fail_next_sends",  # the next N sendText calls answer fail_status
    "fail_next_checks",  # the next N whatsappNumbers calls answer fail_status
    "fail_status",  # 4xx/5xx status of those failures (default 500)
    "retry_after",  # seconds sent in a Retry-After header with those failures (default: none)
    "latency_ms",  # every gateway call waits this long before answering (timeout tests)
    "reverse_check_results",  # answer whatsappNumbers in reverse order (clients must map by number)
    "webhook_url",  # where /_sim/reply posts its webhook event
)


# --- numbers ------------------------------------------------------------------------------------


def _user_part(raw: str) -> str | None:
    """Digits of a number given as digits, +digits or a jid; None if it is not made of digits."""
    user = raw.strip().split("@", 1)[0].removeprefix("+")
    return user if user.isdigit() else None


def canonical_mobile(raw: str) -> str | None:
    """The 13-digit form (55 DDD 9XXXXXXXX) of a Brazilian mobile given in any form, or None."""
    digits = _user_part(raw)
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


def plain_jid(raw: str) -> str:
    """What Evolution's createJid makes of a number it could not resolve."""
    return raw if "@" in raw else f"{raw.removeprefix('+')}{JID_SUFFIX}"


# --- state --------------------------------------------------------------------------------------


@dataclass
class SimulatorState:
    """Everything the simulator remembers. Every public method takes the lock."""

    without_whatsapp: set[str] = field(default_factory=set)
    legacy_numbers: set[str] = field(default_factory=set)
    fail_next_sends: int = 0
    fail_next_checks: int = 0
    fail_status: int = 500
    retry_after: int | None = None
    latency_ms: int = 0
    reverse_check_results: bool = False
    webhook_url: str | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    checks: list[list[str]] = field(default_factory=list)
    # Bumped by reset: a request that began before it (e.g. still sleeping out `latency_ms` after its
    # client gave up) must not be recorded after it, or it would leak into the next test's records.
    epoch: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reset(self) -> None:
        with self._lock:
            fresh = SimulatorState()
            for name in (*CONFIG_KEYS, "messages", "checks"):
                setattr(self, name, getattr(fresh, name))
            self.epoch += 1

    def configure(self, changes: dict[str, Any]) -> None:
        """Apply already-validated changes; keys not given keep their value."""
        with self._lock:
            for key, value in changes.items():
                setattr(self, key, value)

    def config(self) -> dict[str, Any]:
        with self._lock:
            values = {key: getattr(self, key) for key in CONFIG_KEYS}
        for key in ("without_whatsapp", "legacy_numbers"):
            values[key] = sorted(values[key])
        return values

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
        with self._lock:
            if epoch == self.epoch:
                self.checks.append(list(numbers))

    def record_message(self, message: dict[str, Any], epoch: int) -> None:
        with self._lock:
            if epoch == self.epoch:
                self.messages.append(message)

    def snapshot(self, name: str) -> list[Any]:
        with self._lock:
            return list(getattr(self, name))


# --- configuration validation -------------------------------------------------------------------


class ConfigError(ValueError):
    pass


def _mobiles(key: str, value: Any) -> set[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{key} must be a list of strings")
    mobiles = {item: canonical_mobile(item) for item in value}
    bad = [item for item, mobile in mobiles.items() if mobile is None]
    if bad:
        raise ConfigError(f"{key}: not Brazilian mobile numbers: {bad}")
    return {mobile for mobile in mobiles.values() if mobile is not None}


def _count(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{key} must be an integer >= 0")
    return value


def _fail_status(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 400 <= value <= 599:
        raise ConfigError(f"{key} must be an HTTP error status (400-599)")
    return value


def _optional_count(key: str, value: Any) -> int | None:
    return None if value is None else _count(key, value)


def _flag(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false")
    return value


def _url(key: str, value: Any) -> str | None:
    if value is None or (isinstance(value, str) and value.startswith(("http://", "https://"))):
        return value
    raise ConfigError(f"{key} must be an http(s) URL or null")


_VALIDATORS: dict[str, Callable[[str, Any], Any]] = {
    "without_whatsapp": _mobiles,
    "legacy_numbers": _mobiles,
    "fail_next_sends": _count,
    "fail_next_checks": _count,
    "fail_status": _fail_status,
    "retry_after": _optional_count,
    "latency_ms": _count,
    "reverse_check_results": _flag,
    "webhook_url": _url,
}


def validate_config(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ConfigError("the body must be a JSON object")
    unknown = sorted(set(body) - set(CONFIG_KEYS))
    if unknown:
        raise ConfigError(f"unknown keys {unknown}; known: {list(CONFIG_KEYS)}")
    return {key: _VALIDATORS[key](key, value) for key, value in body.items()}


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


def upsert_event(instance: str, instance_id: str, jid: str, text: str, push_name: str) -> dict[str, Any]:
    """A "messages.upsert" webhook event as Evolution v2 posts it for an incoming text message."""
    return {
        "event": "messages.upsert",
        "instance": instance,
        "data": {
            "key": {"remoteJid": jid, "fromMe": False, "id": new_message_id()},
            "pushName": push_name,
            "status": "DELIVERY_ACK",
            "message": {"conversation": text},
            "messageType": "conversation",
            "messageTimestamp": int(time.time()),
            "instanceId": instance_id,
            "source": "android",
        },
        "date_time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "sender": f"5585900000000{JID_SUFFIX}",
    }


def post_json(url: str, payload: dict[str, Any]) -> tuple[int, Any]:
    """POST JSON and return (status, body parsed as JSON when it is JSON) even for error statuses."""
    data = json.dumps(payload).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=WEBHOOK_TIMEOUT_SECONDS) as answer:
            return answer.status, _parse_body(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, _parse_body(error.read())


def _parse_body(raw: bytes) -> Any:
    text = raw.decode(errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


# --- the app ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Gateway:
    """The simulated Evolution server: its instance, key and state."""

    api_key: str
    instance: str
    instance_id: str
    state: SimulatorState

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
        message_id, timestamp = new_message_id(), int(time.time())
        self.state.record_message(
            {
                "id": message_id,
                "number": number,
                "e164": canonical_mobile(number),
                "remoteJid": jid,
                "text": text,
                "delay": delay,
                "timestamp": timestamp,
            },
            g.sim_epoch,
        )
        return sent_message_body(jid, text, message_id, timestamp, self.instance_id)

    def reply(self) -> tuple[Response, int]:
        body = request.get_json(silent=True)
        body = body if isinstance(body, dict) else {}
        number, text = body.get("number"), body.get("text")
        if not isinstance(number, str) or not isinstance(text, str):
            return jsonify(error='"number" and "text" (strings) are required'), 400
        jid = self.state.jid_of(number)
        if jid is None:
            return jsonify(error="this number has no WhatsApp, it cannot reply"), 400
        url = self.state.config()["webhook_url"]
        if not url:
            return jsonify(error='no webhook_url configured: POST /_sim/config {"webhook_url": ...}'), 409
        event = upsert_event(self.instance, self.instance_id, jid, text, str(body.get("push_name", "Paciente")))
        # Evolution also sends these: where the event goes, its own URL and the instance key.
        event |= {"destination": url, "server_url": request.host_url.rstrip("/"), "apikey": self.api_key}
        try:
            status, answer = post_json(url, event)
        except (urllib.error.URLError, OSError) as error:
            return jsonify(error=f"webhook unreachable: {error}", event=event), 502
        return jsonify(event=event, webhook={"status": status, "body": answer}), 200


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
    gateway = _Gateway(api_key, instance, str(uuid.uuid4()), SimulatorState())
    app.extensions["whatsapp_simulator"] = gateway.state
    _add_gateway_routes(app, gateway)
    _add_control_routes(app, gateway)
    _add_error_handlers(app)
    return app


def _add_gateway_routes(app: Flask, gateway: _Gateway) -> None:
    app.post("/chat/whatsappNumbers/<instance>")(gateway.check_numbers)
    app.post("/message/sendText/<instance>")(gateway.send_text)

    @app.get("/")
    def welcome() -> Response:
        return jsonify(status=200, message="Welcome to the Evolution API (Filas simulator), it is working!")


def _add_control_routes(app: Flask, gateway: _Gateway) -> None:
    state = gateway.state

    @app.before_request
    def note_epoch() -> None:
        g.sim_epoch = state.epoch  # read before any simulated latency: see SimulatorState.epoch

    @app.get("/_sim/messages")
    def messages() -> Response:
        return jsonify(state.snapshot("messages"))

    @app.get("/_sim/checks")
    def checks() -> Response:
        return jsonify(state.snapshot("checks"))

    @app.get("/_sim/config")
    def get_config() -> Response:
        return jsonify(state.config())

    @app.post("/_sim/config")
    def set_config() -> Response | tuple[Response, int]:
        try:
            state.configure(validate_config(request.get_json(silent=True)))
        except ConfigError as error:
            return jsonify(error=str(error)), 400
        return jsonify(state.config())

    @app.post("/_sim/reset")
    def reset() -> Response:
        state.reset()
        return jsonify(state.config())

    app.post("/_sim/reply")(gateway.reply)


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
