"""What a worker writes to its log, from a real `dramatiq` CLI process: JSON lines in production (one object
per line, English field names), a plain format for a terminal, and in both the job id, actor and queue on
every line written while a job runs."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dramatiq
import pytest
from waiting import wait_for

WORKERS = Path(__file__).parent / "workers"
DRAMATIQ = str(Path(sys.executable).with_name("dramatiq"))


@pytest.fixture
def send(redis_url: str) -> Iterator:
    from dramatiq.brokers.redis import RedisBroker

    broker = RedisBroker(url=redis_url)
    yield lambda text: broker.enqueue(dramatiq.Message(queue_name="logs-test", actor_name="test.log_something",
                                                       args=(text,), kwargs={}, options={}))
    broker.close()


@contextmanager
def worker(tmp_path: Path, redis_url: str, database_url: str, log_format: str) -> Iterator[Path]:
    log = tmp_path / f"worker-{log_format}.log"
    env = {**os.environ, "FILAS_REDIS_URL": redis_url, "FILAS_DATABASE_URL": database_url,
           "FILAS_LOG_FORMAT": log_format, "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        process = subprocess.Popen([DRAMATIQ, "logging_actors", "--path", str(WORKERS), "--processes", "1",
                                    "--threads", "1", "--queues", "logs-test"],
                                   env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield log
    finally:
        process.terminate()
        process.wait(timeout=30)


def lines_with(log: Path, text: str) -> list[str]:
    return [line for line in log.read_text().splitlines() if text in line]


def log_line_of_a_job(tmp_path, redis_url, database_url, send, log_format: str, text: str):
    """Run one job that logs `working on <text>` in a real worker; the message and the log's lines."""
    with worker(tmp_path, redis_url, database_url, log_format) as log:
        wait_for(lambda: lines_with(log, "logging actors loaded"), timeout=60, what="the worker booted")
        message = send(text)
        found = wait_for(lambda: lines_with(log, f"working on {text}"), timeout=60,
                         what="the job's log line", details=log.read_text)
    return message, found[0], log


def test_json_lines_carry_the_job_on_every_line_of_the_job(tmp_path, redis_url, database_url, send):
    message, line, log = log_line_of_a_job(tmp_path, redis_url, database_url, send, "json", "the first load")

    job_line = json.loads(line)
    assert job_line["message"] == "working on the first load"
    assert (job_line["job_id"], job_line["actor"], job_line["queue"]) == (
        message.message_id, "test.log_something", "logs-test")
    assert {"time", "level", "logger", "process", "thread"} <= set(job_line)
    boot_line = json.loads(lines_with(log, "logging actors loaded")[0])
    assert "job_id" not in boot_line and boot_line["level"] == "INFO"


def test_the_plain_format_names_the_job_too(tmp_path, redis_url, database_url, send):
    message, line, _ = log_line_of_a_job(tmp_path, redis_url, database_url, send, "plain", "the second load")

    assert line.endswith(f"working on the second load [job {message.message_id} test.log_something on logs-test]")
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)
