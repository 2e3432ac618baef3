"""Driving a gateway simulator (filas_simulators.whatsapp, .meta_cloud) from a test: its /_sim control routes,
and the simulator run from its command line, as a process."""

import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx
from waiting import wait_for


def configure(sim: httpx.Client, **config: Any) -> None:
    """POST /_sim/config: change some of the simulator's configuration keys."""
    sim.post("/_sim/config", json=config).raise_for_status()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_simulator(module: str, env: Mapping[str, str], port: int, *args: str) -> subprocess.Popen[str]:
    """`python -m <module> --host 127.0.0.1 --port <port> <args>` with `env`, its output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", module, "--host", "127.0.0.1", "--port", str(port), *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def refused_start(module: str, missing_env: str, *args: str) -> str:
    """What the simulator says on stderr when started without the environment variable `missing_env`: it must
    exit with an error."""
    env = {k: v for k, v in os.environ.items() if k != missing_env}
    process = run_simulator(module, env, free_port(), *args)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode != 0
    return stderr


@contextmanager
def simulator_process(module: str, env: Mapping[str, str], *args: str) -> Iterator[str]:
    """The simulator run as a process on a free port with `env` on top of this one's, until the block ends;
    gives its URL once it answers GET /."""
    port = free_port()
    process = run_simulator(module, {**os.environ, **env}, port, *args)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _is_up(url, process), 20, "the simulator to start", lambda: process.stderr)
        yield url
    finally:
        process.terminate()
        process.communicate(timeout=10)


def _is_up(url: str, process: subprocess.Popen[str]) -> bool:
    assert process.poll() is None, process.communicate()[1]
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.TransportError:
        return False
