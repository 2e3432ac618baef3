"""Serve a WSGI app on a real localhost port: in a background thread (tests) or in the foreground (CLIs).

    with serve_in_thread(create_app(...)) as server:
        httpx.get(f"{server.url}/...")

Port 0 (the default) lets the OS pick a free port; it is bound when the server is built, so
`server.port` and `server.url` are valid before `start()` and there is no race with other tests.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Self

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


class _QuietRequestHandler(WSGIRequestHandler):
    """Skips the per-request access log line; errors are still logged."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class LocalServer:
    """A threaded werkzeug server bound at construction time."""

    def __init__(self, app: "WSGIApplication", host: str = "127.0.0.1", port: int = 0, *, quiet: bool = True) -> None:
        handler = _QuietRequestHandler if quiet else WSGIRequestHandler
        self._server: BaseWSGIServer = make_server(host, port, app, threaded=True, request_handler=handler)
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return self._server.host

    @property
    def port(self) -> int:
        return self._server.server_port

    @property
    def url(self) -> str:
        """Base URL a client on this machine can reach (no trailing slash)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    def start(self) -> Self:
        """Serve in a daemon thread and return at once."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, name=f"wsgi-{self.port}", daemon=True)
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until Ctrl-C (or `stop()` from another thread)."""
        try:
            self._server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self._server.server_close()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, close the socket and wait for the serving thread."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@contextmanager
def serve_in_thread(
    app: "WSGIApplication", host: str = "127.0.0.1", port: int = 0, *, quiet: bool = True
) -> Iterator[LocalServer]:
    """Serve `app` in a background thread for the duration of the `with` block."""
    server = LocalServer(app, host, port, quiet=quiet).start()
    try:
        yield server
    finally:
        server.stop()
