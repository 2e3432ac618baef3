"""filas.prometheus_multiprocess: the directory is emptied once per run of a service, and a process that
died without saying so leaves its counters but not its live gauges."""

import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest, values

from filas import prometheus_multiprocess

WRITER = """
from filas import prometheus_multiprocess
from pathlib import Path
import sys
prometheus_multiprocess.use(Path(sys.argv[1]))
from prometheus_client import Counter, Gauge
Counter("jobs_total", "Jobs").inc(3)
Gauge("jobs_in_progress", "Running", multiprocess_mode="livesum").inc()
"""  # then it exits without marking itself dead, as after a kill -9


@pytest.fixture(autouse=True)
def _this_process_stays_single_process(monkeypatch):
    monkeypatch.setenv(prometheus_multiprocess.ENV, "unused")
    monkeypatch.delenv(prometheus_multiprocess.ENV)
    monkeypatch.setattr(values, "ValueClass", values.ValueClass)


def write_metrics_in_a_process_that_exits(path: Path) -> None:
    subprocess.run([sys.executable, "-c", WRITER, str(path)], check=True)


def test_the_first_process_of_a_run_empties_the_directory_and_its_siblings_do_not(tmp_path):
    write_metrics_in_a_process_that_exits(tmp_path)  # a previous run's files

    prometheus_multiprocess.start_fresh_once_per_run(tmp_path, run="1234:99")
    assert not list(tmp_path.glob("*.db"))
    write_metrics_in_a_process_that_exits(tmp_path)  # the first process of run 1234:99 writes
    prometheus_multiprocess.start_fresh_once_per_run(tmp_path, run="1234:99")  # its sibling starts
    assert list(tmp_path.glob("counter_*.db"))

    prometheus_multiprocess.start_fresh_once_per_run(tmp_path, run="1234:100")  # same pid, restarted
    assert not list(tmp_path.glob("*.db"))


def test_a_dead_process_keeps_its_counts_but_not_its_live_gauges(tmp_path):
    write_metrics_in_a_process_that_exits(tmp_path)
    registry = CollectorRegistry()
    registry.register(prometheus_multiprocess.LiveProcessesCollector(tmp_path))

    text = generate_latest(registry).decode()

    assert "jobs_total 3.0" in text
    assert "jobs_in_progress 1.0" not in text
    assert not list(tmp_path.glob("gauge_livesum_*.db"))
