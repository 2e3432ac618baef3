"""The /_sim control routes the WhatsApp gateway simulators share (no auth; for tests and demos):

  GET  /_sim/messages   every accepted send, in order      GET  /_sim/webhooks  every webhook posted, in order
  GET  /_sim/config     current configuration              POST /_sim/config    change some keys
  POST /_sim/reset      forget records and configuration  POST /_sim/reply     the patient writes (a webhook)

and a hook that notes, before any simulated latency, the state's epoch a request began in (`g.sim_epoch`):
what the request records after a reset is dropped (see GatewayState.epoch). A simulator adds its own routes
beside these."""

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, g, jsonify, request

from filas_simulators.config_checks import ConfigError
from filas_simulators.gateway_state import GatewayState
from filas_simulators.webhooks import DELIVERY_ERRORS

NO_WEBHOOK_URL = 'no webhook_url configured: POST /_sim/config {"webhook_url": ...}'


def add_control_routes(app: Flask, state: GatewayState, validate_config: Callable[[Any], dict[str, Any]],
                       reply: Callable[[], Any], reset_state: Callable[[], None] | None = None) -> None:
    """`validate_config` checks a POST /_sim/config body (raising ConfigError), `reply` answers /_sim/reply,
    `reset_state` resets the state (default: state.reset)."""
    reset_state = reset_state or state.reset

    @app.before_request
    def note_epoch() -> None:
        g.sim_epoch = state.epoch  # read before any simulated latency

    @app.get("/_sim/messages")
    def messages() -> Response:
        return jsonify(state.snapshot("messages"))

    @app.get("/_sim/webhooks")
    def webhooks() -> Response:
        return jsonify(state.snapshot("webhooks"))

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
        reset_state()
        return jsonify(state.config())

    app.post("/_sim/reply")(reply)


def reply_answer(event: dict[str, Any], deliver: Callable[[], tuple[int, Any]]) -> tuple[Response, int]:
    """What /_sim/reply answers once it has its webhook `event`: the event and what the receiver answered when
    `deliver` posts it, or 502 when the receiver cannot be reached."""
    try:
        status, answer = deliver()
    except DELIVERY_ERRORS as error:
        return jsonify(error=f"webhook unreachable: {error}", event=event), 502
    return jsonify(event=event, webhook={"status": status, "body": answer}), 200
