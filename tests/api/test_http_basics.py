"""Auth, health, metrics, the OpenAPI document and outages, as a client of the API sees them."""

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

AUTH = {"Authorization": "Bearer test-token"}  # accepted by the `client` fixture
# The operations page (filas_api/ops): HTML for people behind a login form, not part of the JSON API.
NOT_THE_API = ("static", "ops.")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic dGVzdA=="}])
def test_every_business_route_needs_a_valid_bearer_token(client, headers):
    for method, path in [("get", "/portal/api/status-filas"), ("post", "/api/campanhas"),
                         ("get", "/api/task/6a3e1a64-0000-4000-8000-000000000000/status")]:
        reply = getattr(client, method)(path, headers=headers)
        assert reply.status_code == 401, path


def test_health_metrics_and_docs_are_public(client):
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"redis": "ok", "database": "ok"}
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'filas_queue_messages{queue="atacadao",state="ready"} 0.0' in metrics
    assert client.get("/openapi.json").get_json()["openapi"].startswith("3.")


def test_the_openapi_document_lists_every_route(client):
    document = client.get("/openapi.json").get_json()
    routes = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method.lower())
        for rule in client.application.url_map.iter_rules() if not rule.endpoint.startswith(NOT_THE_API)
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, operations in document["paths"].items() for method in operations}
    assert routes == documented


def test_an_unknown_route_is_a_json_404(client):
    reply = client.get("/api/nada", headers=AUTH)
    assert reply.status_code == 404
    assert reply.get_json()["sucesso"] is False


def test_with_redis_and_the_database_down_the_api_answers_503(tmp_path):
    """gunicorn started as in production, pointed at ports where nothing listens."""
    bin_dir = Path(sys.executable).parent
    port = _free_port()
    env = {"FILAS_REDIS_URL": "redis://127.0.0.1:1/0", "FILAS_API_TOKENS": "test-token",
           "FILAS_DATABASE_URL": "postgresql+psycopg://filas@127.0.0.1:1/filas", "PATH": str(bin_dir)}
    server = subprocess.Popen([str(bin_dir / "gunicorn"), "-c", "python:filas_api.gunicorn_conf", "--bind",
                               f"127.0.0.1:{port}", "filas_api.wsgi:app"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_listening(base)
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 503
        reply = httpx.post(f"{base}/portal/api/solicitar-agendamento-async", headers=AUTH, json={
            "lote_id": "L", "data_agendamento": "2099-01-01", "hora_agendamento": "09:00",
            "transportadora": "T", "tipo_veiculo": "truck"})
        assert reply.status_code == 503
        assert "indisponível" in reply.json()["message"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_listening(base: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"gunicorn did not listen on {base}")
