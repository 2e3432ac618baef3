"""GET /livez beside /metrics, for the Kubernetes probes of the services whose port serves only metrics (the
workers, filas.worker_liveness; the scheduler, filas_scheduler.liveness): a WSGI route in front of
prometheus-client's app, and the server prometheus-client's start_http_server would build, for any app."""

import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client.exposition import ThreadingWSGIServer

ROUTE = "/livez"

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


@dataclass(frozen=True)
class Verdict:
    alive: bool
    reason: str


def with_livez(app: WSGIApp, judge: Callable[[], Verdict]) -> WSGIApp:
    """`app` with the /livez route in front of it: 200 or 503, and the verdict's reason as text."""

    def routed(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != ROUTE:
            return app(environ, start_response)
        result = judge()
        body = (result.reason + "\n").encode()
        status = "200 OK" if result.alive else "503 Service Unavailable"
        start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
        return [body]

    return routed


def http_server(app: WSGIApp, host: str, port: int) -> WSGIServer:
    """A thread per request, IPv6 addresses too, no request logs (probes come every few seconds)."""
    family, *_, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    server_class = type("MetricsServer", (ThreadingWSGIServer,), {"address_family": family})
    return make_server(address[0], port, app, server_class, handler_class=_QuietHandler)


def serve_in_thread(server: WSGIServer) -> None:
    threading.Thread(target=server.serve_forever, name="metrics-server", daemon=True).start()


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args) -> None:
        pass
