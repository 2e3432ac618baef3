"""The scheduler's metrics, scraped from the stack's scheduler (the leader) and from one waiting for the lock."""

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import redis
from prometheus_client.parser import text_string_to_metric_families
from waiting import wait_for

from filas_devtools.ports import HOST, free_port
from filas_scheduler.leader import LOCK_NAME

WAIT_SECONDS = 150  # the reconciler runs at every minute
SCHEDULER = str(Path(sys.executable).parent / "filas-scheduler")


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    try:
        text = httpx.get(f"http://{HOST}:{port}/metrics", timeout=10).text
    except httpx.TransportError:
        return {}
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_the_leader_says_so_and_when_each_periodic_job_last_succeeded(stack):
    began = time.time()
    port = stack.config.scheduler_metrics_port
    reconciled = ("filas_scheduler_last_success_timestamp_seconds", (("task", "maintenance.reconcile"),))

    wait_for(lambda: scrape(port).get(reconciled, 0) >= began, WAIT_SECONDS, "a reconcile run after the test began",
             details=lambda: scrape(port))

    samples = scrape(port)
    assert samples[("filas_scheduler_leader", ())] == 1
    assert samples[reconciled] <= time.time()


def test_a_standby_scheduler_says_it_does_not_lead(redis_url, tmp_path):
    # Its own Redis, where another scheduler holds the lock: a standby started against the stack's could take
    # the lock while the leader renews it after a test flushed Redis.
    redis.Redis.from_url(redis_url).set(LOCK_NAME, "held-by-another-scheduler", ex=600)
    port = free_port()
    env = {**os.environ, "FILAS_REDIS_URL": redis_url, "FILAS_METRICS_HOST": HOST, "FILAS_METRICS_PORT": str(port)}
    log_path = tmp_path / "standby.log"
    with log_path.open("w") as log:
        standby = subprocess.Popen([SCHEDULER], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: scrape(port).get(("filas_scheduler_leader", ())) == 0, WAIT_SECONDS,
                 "the standby serving its metrics", details=log_path.read_text)
        assert "holding the scheduler lock" not in log_path.read_text()
    finally:
        standby.kill()
        standby.wait()
