"""Worker liveness: whether every worker process of a `dramatiq` run is still consuming, served as `GET /livez`
by the metrics server the CLI forks (filas.worker_metrics) for the Kubernetes probes.

"Consuming" means that each consumer thread of the process (one per queue and delay queue) came back from a
poll within FILAS_WORKER_LIVENESS_SECONDS (FilasRedisBroker.last_polls). An idle consumer polls Redis about
once a second; one whose worker threads are all busy (its prefetch reached) still goes round its loop about
once a second, waiting for a free slot, so a long job does not make its process look dead. A consumer stuck
on a Redis call, one whose Redis is gone, a dead consumer thread and a stopped process (SIGSTOP) do.

Each worker process writes its consumers' poll times to `<worker metrics dir>/liveness/<pid>` every second,
in time.monotonic() (one clock for every process of the host, unmoved by wall-clock steps); the server reads
them. The files of processes that no longer run are ignored: Dramatiq stops the whole run when a worker
process dies, and the next run's first process empties the directory (filas.prometheus_multiprocess).
"""

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from dramatiq import Middleware

from filas import prometheus_multiprocess
from filas.liveness_http import Verdict
from filas.sleeping import sleep_unless

logger = logging.getLogger(__name__)

HEARTBEATS = "liveness"  # the subdirectory of the worker metrics directory
BEAT_SECONDS = 1.0


class ConsumerHeartbeat(Middleware):
    """Writes this worker process's heartbeat file from its consumers' poll times, from boot to shutdown."""

    def __init__(self) -> None:
        self._stopped = threading.Event()
        self._path: Path | None = None

    def after_worker_boot(self, broker, worker) -> None:
        directory = prometheus_multiprocess.directory_in_use()
        if directory is None:  # metrics off: no server to read it
            return
        self._path = directory / HEARTBEATS / str(os.getpid())
        booted = time.monotonic()  # a consumer that has not polled yet has had since boot

        def polls() -> dict[str, float]:
            return {queue: broker.last_polls.get(queue, booted) for queue in list(worker.consumers)}

        threading.Thread(target=self._beat, args=(self._path, polls), name="filas-liveness", daemon=True).start()

    def after_worker_shutdown(self, broker, worker) -> None:
        self._stopped.set()
        if self._path is not None:
            self._path.unlink(missing_ok=True)

    def _beat(self, path: Path, polls: Callable[[], dict[str, float]]) -> None:
        while True:
            try:
                write_heartbeat(path, polls())
            except Exception:  # a full disk must not stop the beats for good
                logger.warning("could not write the liveness heartbeat %s", path, exc_info=True)
            if sleep_unless(self._stopped, BEAT_SECONDS):  # not Event.wait: it hangs under libfaketime
                return


def write_heartbeat(path: Path, polls: dict[str, float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.tmp")
    partial.write_text(json.dumps(polls))
    partial.replace(path)  # readers never see half a file


def verdict(directory: Path, limit_seconds: float) -> Verdict:
    """Alive when some worker process has booted and every running one has polled on each of its queues
    within `limit_seconds`; otherwise the reason, naming the stale process and queue."""
    heartbeats = _running_heartbeats(directory / HEARTBEATS)
    if not heartbeats:
        return Verdict(False, "no worker process has booted")
    now = time.monotonic()
    stale = []
    for pid, polls in sorted(heartbeats.items()):
        queue, polled = min(polls.items(), key=lambda item: item[1], default=("-", now))
        if now - polled > limit_seconds:
            stale.append(f"worker process {pid}: queue {queue} not polled for {now - polled:.0f} s")
    if stale:
        return Verdict(False, f"{'; '.join(stale)} (limit {limit_seconds:g} s)")
    return Verdict(True, f"consuming: worker processes {', '.join(map(str, sorted(heartbeats)))}")


def _running_heartbeats(directory: Path) -> dict[int, dict[str, float]]:
    heartbeats = {}
    for path in directory.glob("*"):
        if not path.name.isdigit() or not Path("/proc", path.name).exists():  # not a pid, or it has exited
            continue
        try:
            heartbeats[int(path.name)] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # gone since the listing (a clean exit)
    return heartbeats
