"""A worker's liveness probe (GET /livez on its metrics port, filas.worker_liveness) against a real `dramatiq`
worker and a real Redis: 200 while its consumers consume, idle or with every thread busy on a job longer than
the limit; 503 naming the process when they stop (the process frozen, Redis gone), and 200 again once they
resume. The metrics server is a process of its own: it keeps answering /metrics throughout."""

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dramatiq
import httpx
import pytest
from faultkit import RestartableRedis
from prometheus_client.parser import text_string_to_metric_families
from waiting import wait_for

from filas.broker import setup_broker
from filas_devtools.ports import HOST, free_port

pytestmark = pytest.mark.timeout(120)

BIN = Path(sys.executable).parent
ACTORS_DIR = Path(__file__).parents[1] / "integration"  # _metrics_actors.py
QUEUE = "metrics-test"
LIMIT = 3  # FILAS_WORKER_LIVENESS_SECONDS of these workers
TIMEOUT = 60


@pytest.fixture
def own_redis(configure) -> Iterator[RestartableRedis]:
    """A Redis of this test's own (it may stop it and start it again), this process's broker pointed at it."""
    server = RestartableRedis()
    configure(FILAS_REDIS_URL=server.start())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def worker_env(own_redis: RestartableRedis, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "FILAS_REDIS_URL": own_redis.url, "FILAS_METRICS_HOST": HOST,
            "FILAS_METRICS_PORT": str(free_port()), "FILAS_METRICS_DIR": str(tmp_path / "metrics"),
            "FILAS_WORKER_LIVENESS_SECONDS": str(LIMIT)}


@contextmanager
def dramatiq_worker(env: dict[str, str], log: Path) -> Iterator[int]:
    """`dramatiq _metrics_actors`, one process of one thread, consuming; yields its metrics port.
    Killed with its forks (kill -9 to the group) at the end."""
    with log.open("a") as output:
        process = subprocess.Popen(
            [str(BIN / "dramatiq"), "_metrics_actors", "--path", str(ACTORS_DIR), "--queues", QUEUE,
             "--processes", "1", "--threads", "1"],
            env=env, start_new_session=True, stdout=output, stderr=subprocess.STDOUT,
        )
    try:
        port = int(env["FILAS_METRICS_PORT"])
        wait_for(lambda: livez(port)[0] == 200, TIMEOUT, "the worker consuming", details=log.read_text)
        yield port
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def livez(port: int) -> tuple[int | None, str]:
    """The probe's status and text; (None, error) while nothing answers."""
    try:
        reply = httpx.get(f"http://{HOST}:{port}/livez", timeout=5)
    except httpx.TransportError as error:
        return None, repr(error)
    return reply.status_code, reply.text


def metrics(port: int) -> dict[str, float]:
    """This test queue's samples from /metrics, by name."""
    reply = httpx.get(f"http://{HOST}:{port}/metrics", timeout=5)
    reply.raise_for_status()
    return {sample.name: sample.value for family in text_string_to_metric_families(reply.text)
            for sample in family.samples if sample.labels.get("queue") == QUEUE}


def worker_pid(port: int) -> int:
    """The worker process /livez names (the metrics server is another process)."""
    status, text = livez(port)
    assert status == 200, text
    [pid] = re.findall(r"\d+", text.split(":", 1)[1])
    return int(pid)


def test_an_idle_worker_is_alive_and_its_metrics_still_served(worker_env, tmp_path):
    with dramatiq_worker(worker_env, tmp_path / "worker.log") as port:
        status, text = livez(port)
        assert (status, text) == (200, f"consuming: worker processes {worker_pid(port)}\n")
        assert metrics(port)["filas_worker_threads"] == 1


def test_a_frozen_worker_process_fails_the_probe_until_it_is_thawed(worker_env, tmp_path):
    with dramatiq_worker(worker_env, tmp_path / "worker.log") as port:
        pid = worker_pid(port)
        os.kill(pid, signal.SIGSTOP)
        try:
            _, text = wait_for(lambda: stale(port), TIMEOUT, "the probe failing")
            assert f"worker process {pid}: queue" in text
            assert "filas_worker_threads" in metrics(port), "the metrics server stopped answering"
        finally:
            os.kill(pid, signal.SIGCONT)
        wait_for(lambda: livez(port)[0] == 200, TIMEOUT, "the probe passing again", details=lambda: livez(port))


def test_the_probe_fails_while_redis_is_gone_and_passes_once_it_is_back(own_redis, worker_env, tmp_path):
    with dramatiq_worker(worker_env, tmp_path / "worker.log") as port:
        own_redis.stop()
        _, text = wait_for(lambda: stale(port), TIMEOUT, "the probe failing while Redis is gone")
        assert "not polled for" in text
        own_redis.start_again()
        wait_for(lambda: livez(port)[0] == 200, TIMEOUT, "the probe passing with Redis back",
                 details=lambda: livez(port))


def test_a_job_longer_than_the_limit_does_not_fail_the_probe(own_redis, worker_env, tmp_path):
    with dramatiq_worker(worker_env, tmp_path / "worker.log") as port:
        setup_broker().enqueue(dramatiq.Message(queue_name=QUEUE, actor_name="metrics_test.wait", args=(),
                                                kwargs={"key": "release"}, options={}))
        wait_for(lambda: metrics(port).get("filas_jobs_in_progress") == 1, TIMEOUT, "the job running")
        running_since = time.monotonic()

        def alive_for_three_limits() -> bool:
            status, text = livez(port)
            assert status == 200, f"the probe failed while the job ran: {text}"
            return time.monotonic() - running_since > 3 * LIMIT

        wait_for(alive_for_three_limits, TIMEOUT, "three liveness limits passing with the only thread busy")
        assert metrics(port)["filas_jobs_in_progress"] == 1
        with own_redis.client() as client:
            client.rpush("release", "go")
        wait_for(lambda: metrics(port).get("filas_jobs_succeeded_total") == 1, TIMEOUT, "the job ending")
        assert livez(port)[0] == 200


def stale(port: int) -> tuple[int, str] | None:
    status, text = livez(port)
    return (status, text) if status == 503 else None
