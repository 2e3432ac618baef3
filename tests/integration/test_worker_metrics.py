"""Worker job metrics (filas.worker_metrics) as Prometheus scrapes them from a real `dramatiq` worker of two
processes: every counter equals what the jobs did, summed over the processes, and a restarted worker counts
from zero (its multiprocess directory is emptied at start, even after a kill -9)."""

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dramatiq
import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from waiting import wait_for

from filas.broker import get_job_store, setup_broker
from filas.jobs import CancelOutcome
from filas_devtools.ports import HOST, free_port

BIN = Path(sys.executable).parent
ACTORS_DIR = Path(__file__).parent  # _metrics_actors.py
QUEUE = "metrics-test"
PROCESSES, THREADS = 2, 2
TIMEOUT = 90

Series = tuple[str, frozenset[tuple[str, str]]]


def series(name: str, actor: str | None = None, **labels: str) -> Series:
    return name, frozenset({"queue": QUEUE, **({"actor": actor} if actor else {}), **labels}.items())


def scrape(port: int) -> dict[Series, float]:
    """This test queue's series, from the worker's metrics endpoint ({} while it does not answer)."""
    try:
        text = httpx.get(f"http://{HOST}:{port}/metrics", timeout=10).text
    except httpx.TransportError:
        return {}
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.labels.get("queue") == QUEUE and not sample.name.endswith(("_bucket", "_sum"))
    }


def nonzero(samples: dict[Series, float]) -> dict[Series, float]:
    return {key: value for key, value in samples.items() if value}


@pytest.fixture
def worker_env(configure, redis_url: str, tmp_path: Path) -> dict[str, str]:
    configure(FILAS_REDIS_URL=redis_url)
    return {**os.environ, "FILAS_REDIS_URL": redis_url, "FILAS_METRICS_HOST": HOST,
            "FILAS_METRICS_PORT": str(free_port()), "FILAS_METRICS_DIR": str(tmp_path / "metrics")}


@contextmanager
def dramatiq_worker(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """`dramatiq _metrics_actors` with 2 processes; killed with its forks (kill -9 to the group) at the end."""
    with log.open("a") as output:
        process = subprocess.Popen(
            [str(BIN / "dramatiq"), "_metrics_actors", "--path", str(ACTORS_DIR), "--queues", QUEUE,
             "--processes", str(PROCESSES), "--threads", str(THREADS)],
            env=env, start_new_session=True, stdout=output, stderr=subprocess.STDOUT,
        )
    try:
        port = int(env["FILAS_METRICS_PORT"])
        threads = series("filas_worker_threads")
        wait_for(lambda: scrape(port).get(threads) == PROCESSES * THREADS, TIMEOUT,
                 "both worker processes serving their metrics", details=log.read_text)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def send(actor: str, **kwargs) -> str:
    message = dramatiq.Message(queue_name=QUEUE, actor_name=actor, args=(), kwargs=kwargs, options={})
    return setup_broker().enqueue(message).message_id


def wait_until_final(job_ids: list[str]) -> None:
    store = get_job_store()

    def statuses() -> dict[str, str | None]:
        return {job_id: (job.status if (job := store.get(job_id)) else None) for job_id in job_ids}

    wait_for(lambda: all(status and status.is_final for status in statuses().values()), TIMEOUT,
             "every job ending", details=statuses)


def test_the_counters_equal_what_the_jobs_did_across_two_worker_processes(worker_env, tmp_path):
    sent = {actor: [send(f"metrics_test.{actor}") for _ in range(count)]
            for actor, count in {"succeed": 3, "fail_once": 2, "always_fail": 1, "permanent": 1, "cancel": 1}.items()}
    never_run = send("metrics_test.succeed")
    assert get_job_store().request_cancel(never_run, QUEUE, "cancelled while queued") == CancelOutcome.CANCELLED
    port = int(worker_env["FILAS_METRICS_PORT"])

    with dramatiq_worker(worker_env, tmp_path / "worker.log") as worker:
        wait_until_final([job_id for ids in sent.values() for job_id in ids])
        started = {"succeed": 3, "fail_once": 4, "always_fail": 3, "permanent": 1, "cancel": 1}  # 2 + 2 retries; 1 + 2
        expected = {
            **{series("filas_jobs_started_total", f"metrics_test.{a}"): n for a, n in started.items()},
            **{series("filas_job_duration_seconds_count", f"metrics_test.{a}"): n for a, n in started.items()},
            series("filas_jobs_succeeded_total", "metrics_test.succeed"): 3,
            series("filas_jobs_succeeded_total", "metrics_test.fail_once"): 2,
            series("filas_jobs_failed_total", "metrics_test.fail_once", exception="Flaky"): 2,
            series("filas_jobs_failed_total", "metrics_test.always_fail", exception="Flaky"): 3,
            series("filas_jobs_failed_total", "metrics_test.permanent", exception="PermanentJobError"): 1,
            series("filas_jobs_retried_total", "metrics_test.fail_once"): 2,
            series("filas_jobs_retried_total", "metrics_test.always_fail"): 2,
            series("filas_jobs_dead_lettered_total", "metrics_test.always_fail"): 1,
            series("filas_jobs_dead_lettered_total", "metrics_test.permanent"): 1,
            series("filas_jobs_cancelled_total", "metrics_test.cancel"): 1,
            series("filas_jobs_cancelled_total", "metrics_test.succeed"): 1,  # skipped: cancelled while queued
            series("filas_worker_threads"): PROCESSES * THREADS,
        }
        last: dict[Series, float] = {}

        def scraped_as_expected() -> bool:
            last.clear()
            last.update(scrape(port))
            return nonzero(last) == expected

        wait_for(scraped_as_expected, TIMEOUT, "the scraped counters matching what the jobs did",
                 details=lambda: f"unexpected: {set(nonzero(last).items()) ^ set(expected.items())}")
        in_progress = {key: value for key, value in last.items() if key[0] == "filas_jobs_in_progress"}
        assert in_progress and set(in_progress.values()) == {0.0}, in_progress
        assert worker.poll() is None


def test_a_worker_restarted_after_a_kill_counts_only_what_its_new_run_does(worker_env, redis_url, tmp_path):
    port = int(worker_env["FILAS_METRICS_PORT"])
    with dramatiq_worker(worker_env, tmp_path / "worker.log") as first:
        done = [send("metrics_test.succeed") for _ in range(2)]
        send("metrics_test.wait", key="never-released")
        wait_until_final(done)
        wait_for(lambda: scrape(port).get(series("filas_jobs_in_progress", "metrics_test.wait")) == 1, TIMEOUT,
                 "the waiting job in progress", details=lambda: scrape(port))
        os.killpg(first.pid, signal.SIGKILL)  # a lost node: nothing is marked dead, the files stay
        first.wait()
    with redis.Redis.from_url(redis_url) as client:
        client.flushall()  # the killed run's unacknowledged message must not come back into this one

    with dramatiq_worker(worker_env, tmp_path / "worker.log"):
        wait_until_final([send("metrics_test.succeed")])
        expected = {
            series("filas_jobs_started_total", "metrics_test.succeed"): 1,
            series("filas_job_duration_seconds_count", "metrics_test.succeed"): 1,
            series("filas_jobs_succeeded_total", "metrics_test.succeed"): 1,
            series("filas_worker_threads"): PROCESSES * THREADS,
        }
        wait_for(lambda: nonzero(scrape(port)) == expected, TIMEOUT, "only the new run's counts",
                 details=lambda: nonzero(scrape(port)))
