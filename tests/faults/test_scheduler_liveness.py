"""The scheduler's liveness probe (GET /livez on its metrics port, filas_scheduler.liveness) against a real
`filas-scheduler` and a real Redis: a standby that tries the leader lock every second stays alive; the leader
is alive right after its loop woke, 503 once the loop has slept longer than the limit (here 2 s, far below the
production 150 s, against a loop that wakes once a minute), and alive again at its next wake."""

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import redis
from waiting import wait_for

from filas_devtools.ports import HOST, free_port

pytestmark = pytest.mark.timeout(240)

BIN = Path(sys.executable).parent
LIMIT = 2  # FILAS_SCHEDULER_LIVENESS_SECONDS of these schedulers
LOCK = "filas:scheduler:leader"  # filas_scheduler.leader.LOCK_NAME
MINUTE_AND_MORE = 75  # the leader wakes at least once a minute


@contextmanager
def scheduler(redis_url: str, database_url: str, log: Path) -> Iterator[int]:
    """`filas-scheduler` with its metrics on a free port; yields the port. Killed at the end."""
    port = free_port()
    env = {**os.environ, "FILAS_REDIS_URL": redis_url, "FILAS_DATABASE_URL": database_url,
           "FILAS_METRICS_HOST": HOST, "FILAS_METRICS_PORT": str(port),
           "FILAS_SCHEDULER_LIVENESS_SECONDS": str(LIMIT)}
    with log.open("a") as output:
        process = subprocess.Popen([str(BIN / "filas-scheduler")], env=env, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        wait_for(lambda: livez(port)[0] is not None, 60, "the scheduler's metrics server", log.read_text)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def livez(port: int) -> tuple[int | None, str]:
    try:
        answer = httpx.get(f"http://{HOST}:{port}/livez", timeout=2)
    except httpx.TransportError:
        return None, ""
    return answer.status_code, answer.text


def test_a_standby_waiting_for_the_lock_stays_alive(redis_url, database_url, tmp_path):
    redis.Redis.from_url(redis_url).set(LOCK, "another-scheduler", ex=120)  # a leader elsewhere
    with scheduler(redis_url, database_url, tmp_path / "scheduler.log") as port:
        seen = []

        def alive_past_three_limits() -> bool:
            status, body = livez(port)
            assert status == 200, body
            seen.append(body)
            return len(seen) > 3 * LIMIT / 0.2  # wait_for polls every 0.2 s

        wait_for(alive_past_three_limits, 30, "a standby alive past three limits")
        assert seen[-1].startswith("scheduling")


def test_the_leader_fails_the_probe_when_its_loop_has_not_run_and_passes_when_it_wakes(
    redis_url, database_url, tmp_path
):
    redis.Redis.from_url(redis_url).delete(LOCK)
    with scheduler(redis_url, database_url, tmp_path / "scheduler.log") as port:
        stale = wait_for(lambda: (answer := livez(port))[0] == 503 and answer, MINUTE_AND_MORE,
                         "the leader's probe to fail between two wakes")
        assert "the scheduler loop has not run for" in stale[1]
        wait_for(lambda: livez(port)[0] == 200, MINUTE_AND_MORE, "the leader's probe to pass at its next wake")
