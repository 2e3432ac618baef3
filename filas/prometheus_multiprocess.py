"""prometheus-client's multiprocess mode, for the services that run several processes: the workers
(`dramatiq --processes N`) and the API (gunicorn workers).

Each process writes its metric values to files of its own (named after its pid) in one directory, and
the exporter sums the files at scrape time. The directory is emptied when the service starts, before
any of its processes writes: a restarted container keeps its /tmp, and its new processes may get the
same pids, which would carry on from the old counters. Gauges with a live mode (livesum ...) drop a
process's values when it is marked dead: at its clean exit, or at the next scrape when it died without
saying so (SIGKILL, the OOM killer).

The directory is `<FILAS_METRICS_DIR>/<service>` ("api", "worker"): a service's processes share it,
and no other service's.
"""

import contextlib
import fcntl
import glob
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import multiprocess, values

from filas.settings import get_settings

ENV = "PROMETHEUS_MULTIPROC_DIR"
RUN_MARKER = ".run"  # which run of the service the files belong to (start_fresh_once_per_run)
_LOCK = ".lock"
_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w*?_(\d+)\.db")


def service_directory(service: str) -> Path:
    return Path(get_settings().metrics_dir) / service


def start_fresh(path: Path) -> None:
    """Empty `path` and write this process's metrics there: for a parent process that forks the
    others (gunicorn's master), before it forks them."""
    clear(path)
    use(path)


def start_fresh_once_per_run(path: Path, run: str) -> None:
    """Like start_fresh, for sibling processes that start at once with no parent of ours before them
    (Dramatiq's worker processes): the first of a run (`run` names it) empties the directory, the
    others see it done."""
    path.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        marker = path / RUN_MARKER
        if not marker.exists() or marker.read_text() != run:
            clear(path)
            marker.write_text(run)
    use(path)


def use(path: Path) -> None:
    """Write this process's metrics under `path`. Must come before the process creates any metric."""
    path.mkdir(parents=True, exist_ok=True)
    os.environ[ENV] = str(path)
    # prometheus-client chooses between in-memory and file-backed values when it is first imported.
    values.ValueClass = values.get_value_class()


def directory_in_use() -> Path | None:
    """The directory this process writes its metrics to, or None (plain in-memory metrics)."""
    path = os.environ.get(ENV)
    return Path(path) if path else None


def clear(path: Path) -> None:
    """Delete the metric files under `path` (the directory itself stays)."""
    path.mkdir(parents=True, exist_ok=True)
    for entry in path.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.name != _LOCK:
            entry.unlink(missing_ok=True)


def mark_process_dead(pid: int, path: Path) -> None:
    """Drop the live gauges of a process that has exited (its counters and histograms stay)."""
    multiprocess.mark_process_dead(pid, str(path))


def forget_dead_processes(path: Path) -> None:
    """mark_process_dead for every process that left live gauges behind and no longer runs."""
    for name in glob.glob("gauge_live*.db", root_dir=path):
        match = _LIVE_GAUGE_FILE.fullmatch(name)
        if match and not _is_running(int(match.group(1))):
            mark_process_dead(int(match.group(1)), path)


class LiveProcessesCollector:
    """The sum of every process's files (prometheus-client's MultiProcessCollector), read after
    forgetting the live gauges of processes that died."""

    def __init__(self, path: Path):
        self.path = path
        self._files = multiprocess.MultiProcessCollector(None, str(path))

    def collect(self):
        forget_dead_processes(self.path)
        return self._files.collect()



@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path / _LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True
