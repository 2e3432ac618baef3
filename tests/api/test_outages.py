"""Redis or PostgreSQL down, unreachable or stuck: readiness says which, requests answer 503 promptly,
and the response never shows where the database is, who we log in as, or our SQL (the log keeps them)."""

import socket
from collections.abc import Iterator

import pytest
import sqlalchemy

import filas.db.session
from filas.phones import phone_key

AUTH = {"Authorization": "Bearer test-token"}  # accepted by the `client` fixture
SECRET_USER = "usuario_secreto"
SECRET_DB = "banco_secreto"


def assert_discreet(reply, *secrets: str) -> None:
    text = reply.get_data(as_text=True)
    for secret in (SECRET_USER, SECRET_DB, "127.0.0.1", "SELECT", "INSERT", "psycopg", *secrets):
        assert secret not in text, f"{secret!r} leaked into {text}"


def test_ready_with_redis_down_reports_it(configure, client):
    configure(FILAS_REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens there

    reply = client.get("/readyz")

    assert reply.status_code == 200
    assert reply.get_json() == {"status": "degraded", "checks": {"database": "ok", "redis": "unavailable"}}


def test_not_ready_with_the_database_down(configure, client):
    configure(FILAS_DATABASE_URL=f"postgresql+psycopg://{SECRET_USER}@127.0.0.1:1/{SECRET_DB}")

    reply = client.get("/readyz")

    assert reply.status_code == 503
    assert reply.get_json() == {"status": "unavailable", "checks": {"database": "unavailable", "redis": "ok"}}
    assert_discreet(reply)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word, like a database host behind a dead
    load balancer: only a connect timeout ends the wait."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)  # the kernel completes the handshakes; nobody ever answers
        yield server.getsockname()[1]


@pytest.mark.timeout(60)
def test_an_unreachable_database_is_a_503_without_internals(configure, client, silent_server, caplog):
    configure(FILAS_DATABASE_URL=f"postgresql+psycopg://{SECRET_USER}@127.0.0.1:{silent_server}/{SECRET_DB}")

    reply = client.post("/api/optouts", json={"telefone": "85999990001"}, headers=AUTH)

    assert reply.status_code == 503
    assert "indisponível" in reply.get_json()["erro"]
    assert_discreet(reply, str(silent_server))
    assert "infrastructure unavailable: OperationalError" in caplog.text  # the log has the details


def test_every_postgresql_session_has_a_statement_timeout(client):
    with filas.db.session.get_engine().connect() as connection:
        assert connection.scalar(sqlalchemy.text("SHOW statement_timeout")) == "15s"


def test_a_statement_stuck_past_the_timeout_is_a_503_without_internals(configure, client, database_engine,
                                                                        monkeypatch):
    """Another transaction holds the row an opt-out must wait for; the statement timeout (shortened here so
    the test does not wait 15 s) cancels our statement and the client gets a 503, not a hung request."""
    monkeypatch.setattr(filas.db.session, "STATEMENT_TIMEOUT_MS", 200)
    configure()  # a new engine, with the short timeout
    with database_engine.connect() as other:
        other.execute(sqlalchemy.text("INSERT INTO opt_outs (telefone_hash, criado_em) VALUES (:key, now())"),
                      {"key": phone_key("5585999990001")})

        reply = client.post("/api/optouts", json={"telefone": "85999990001"}, headers=AUTH)

        other.rollback()
    assert reply.status_code == 503
    assert_discreet(reply, "opt_outs", "statement timeout")
