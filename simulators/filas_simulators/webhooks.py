"""How the gateway simulators call webhooks: a POST that reports what the receiver answered, and a poster
that sends a simulator's status webhooks in order from one background thread, as a gateway does after it
has answered the send."""

import json
import logging
import queue
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from filas_simulators.gateway_state import GatewayState

logger = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_SECONDS = 10.0
# What a failed delivery can raise: the receiver is down, refuses, or hangs.
DELIVERY_ERRORS = (urllib.error.URLError, OSError, ValueError)


def post_body(url: str, data: bytes, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """POST raw bytes as JSON; (status, body parsed as JSON when it is JSON), error statuses included."""
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    req = urllib.request.Request(url, data=data, headers=all_headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=WEBHOOK_TIMEOUT_SECONDS) as answer:
            return answer.status, _parse_body(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, _parse_body(error.read())


def post_recorded(state: GatewayState, epoch: int, url: str, data: bytes, headers: dict[str, str],
                  about: dict[str, Any]) -> tuple[int, Any]:
    """post_body, recorded in the state's "webhooks" (unless reset since `epoch`): `about` the webhook, with the
    receiver's status and body, or the error that kept it from the receiver (raised again)."""
    try:
        status, answer = post_body(url, data, headers)
    except DELIVERY_ERRORS as error:
        state.record("webhooks", {**about, "error": str(error)}, epoch)
        raise
    state.record("webhooks", {**about, "status": status, "body": answer}, epoch)
    return status, answer


def _parse_body(raw: bytes) -> Any:
    text = raw.decode(errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


class WebhookPoster:
    """Runs posting jobs one after another in a daemon thread (started by the first job): the webhooks of
    one send arrive in order (sent before delivered), and never before the send's answer was written."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._jobs: queue.Queue[Callable[[], None]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
        self._jobs.put(job)

    def post_in_order(self, posts: Sequence[Callable[[], Any]], state: GatewayState, epoch: int) -> None:
        """Run `posts` (each delivers one webhook) one after another in the background; stop at the first the
        receiver does not take (it is down: a gateway would retry later, the simulator gives up) or once the
        state was reset since `epoch` (the rest belong to an earlier test)."""

        def post_all() -> None:
            for post in posts:
                if epoch != state.epoch:
                    return
                try:
                    post()
                except DELIVERY_ERRORS:
                    return

        self.submit(post_all)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                job()
            except Exception:  # a simulator's bug must not stop its later webhooks
                logger.exception("webhook job failed")
