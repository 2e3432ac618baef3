"""The /livez verdict (filas.worker_liveness) from heartbeat files: what a probe sees before any worker process has
booted, when one process is stale among fresh ones, and when a process has exited leaving its file behind.
The real worker and Redis: tests/faults/test_worker_liveness.py."""

import os
import subprocess
import sys
import time
from pathlib import Path

from filas.liveness_http import ROUTE, with_livez
from filas.worker_liveness import HEARTBEATS, verdict, write_heartbeat

LIMIT = 60


def beat(directory: Path, pid: int, **ages: float) -> None:
    now = time.monotonic()
    write_heartbeat(directory / HEARTBEATS / str(pid), {queue: now - age for queue, age in ages.items()})


def exited_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_before_any_worker_process_has_booted_it_is_not_alive(tmp_path):
    assert verdict(tmp_path, LIMIT).alive is False
    assert verdict(tmp_path, LIMIT).reason == "no worker process has booted"


def test_one_stale_queue_fails_it_naming_the_process_and_queue(tmp_path):
    beat(tmp_path, os.getpid(), portal=1, **{"portal.DQ": LIMIT + 5})
    beat(tmp_path, os.getppid(), portal=1)
    result = verdict(tmp_path, LIMIT)
    assert result.alive is False
    assert result.reason.startswith(f"worker process {os.getpid()}: queue portal.DQ not polled for 65 s")


def test_the_heartbeat_of_an_exited_process_is_ignored(tmp_path):
    beat(tmp_path, exited_pid(), portal=LIMIT * 10)
    beat(tmp_path, os.getpid(), portal=1)
    assert verdict(tmp_path, LIMIT).reason == f"consuming: worker processes {os.getpid()}"


def test_livez_answers_the_verdict_and_other_paths_go_to_the_app(tmp_path):
    beat(tmp_path, os.getpid(), portal=LIMIT + 1)
    app = with_livez(lambda environ, start_response: [b"metrics"], lambda: verdict(tmp_path, LIMIT))
    statuses = []
    body = app({"PATH_INFO": ROUTE}, lambda status, headers: statuses.append(status))
    assert statuses == ["503 Service Unavailable"]
    assert b"not polled for 61 s" in b"".join(body)
    assert app({"PATH_INFO": "/metrics"}, None) == [b"metrics"]
