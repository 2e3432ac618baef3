"""Worker module of bench/job_core.py (not a benchmark): one no-op actor on one queue, on the broker stack
named by BENCH_JOB_CORE_STACK. Started by the `dramatiq` CLI with bench/ on PYTHONPATH:

    BENCH_JOB_CORE_STACK=filas FILAS_REDIS_URL=... FILAS_DATABASE_URL=sqlite:///... \
        dramatiq _noop_actors --processes 2 --threads 8 --queues jobcore

Stacks:
- bare: dramatiq's RedisBroker with Dramatiq's default middleware and library defaults, no Filas code;
- bare+prom: the same with Dramatiq's bundled Prometheus middleware;
- filas: filas.broker.build_broker(settings), set up as the worker entry modules do (configure_logging,
  setup_broker): JobStateMiddleware, RowLifecycleMiddleware, CurrentMessage on Filas's broker settings;
- filas+prom: the same plus filas.broker.add_worker_metrics, Filas's worker metrics (what the portal and
  campaign workers run);
- filas-view: build_broker without JobStateMiddleware (diagnosis: the job view's share of the cost);
- filas-maint: build_broker with Dramatiq's maintenance_chance and heartbeat_timeout (diagnosis).

Diagnosis only (off by default, they cost time themselves):
- BENCH_JOB_CORE_TIMING=<dir>: wall time of every middleware hook, the actor, fetch and ack, summed per
  process and written to <dir>/<pid>.json at worker shutdown;
- BENCH_JOB_CORE_PROFILE=<dir>: cProfile (thread CPU time) of every worker and consumer thread,
  <dir>/<pid>-<kind>-<thread>.prof.
"""

import json
import os
import threading
import time

import dramatiq
from dramatiq import Middleware

QUEUE = "jobcore"
ACTOR = "noop"
STACKS = ("bare", "bare+prom", "filas", "filas+prom", "filas-view", "filas-maint")

STACK = os.environ.get("BENCH_JOB_CORE_STACK", "bare")
if STACK not in STACKS:
    raise SystemExit(f"BENCH_JOB_CORE_STACK={STACK!r}: not one of {', '.join(STACKS)}")


def _bare_broker():
    from dramatiq.brokers.redis import RedisBroker

    broker = RedisBroker(url=os.environ["FILAS_REDIS_URL"])
    if STACK == "bare+prom":
        from dramatiq.middleware.prometheus import Prometheus

        broker.add_middleware(Prometheus())
    return broker


def _filas_broker():
    from filas.worker_metrics import prepare_worker_process

    prepare_worker_process()  # as the worker entry modules do; nothing when FILAS_METRICS_PORT=0
    from filas.broker import add_worker_metrics, build_broker
    from filas.logs import configure_logging
    from filas.settings import get_settings

    settings = get_settings()
    configure_logging(settings.log_level)
    if STACK == "filas-maint":
        settings = settings.model_copy(update={"broker_maintenance_chance": 1000,
                                               "broker_heartbeat_timeout_ms": 60_000})
    broker = build_broker(settings)
    if STACK == "filas-view":
        from filas.middleware import JobStateMiddleware

        broker.middleware[:] = [m for m in broker.middleware if not isinstance(m, JobStateMiddleware)]
    if STACK == "filas+prom":
        add_worker_metrics(broker)
    return broker


broker = _bare_broker() if STACK.startswith("bare") else _filas_broker()
dramatiq.set_broker(broker)


@dramatiq.actor(actor_name=ACTOR, queue_name=QUEUE)
def noop() -> None:
    pass


# --- diagnosis ----------------------------------------------------------------------------------------

_HOOKS = ("before_enqueue", "after_enqueue", "before_process_message", "after_process_message",
          "after_skip_message", "before_ack", "after_ack", "before_nack", "after_nack")


class _Timings:
    """Sums of wall time per (what, hook), one dict per thread (no lock on the hot path)."""

    def __init__(self):
        self._local = threading.local()
        self._all: list[dict] = []
        self._lock = threading.Lock()

    def add(self, key: str, seconds: float) -> None:
        table = getattr(self._local, "table", None)
        if table is None:
            table = self._local.table = {}
            with self._lock:
                self._all.append(table)
        entry = table.get(key)
        if entry is None:
            table[key] = [1, seconds]
        else:
            entry[0] += 1
            entry[1] += seconds

    def wrap(self, key: str, function):
        clock = time.perf_counter

        def timed(*args, **kwargs):
            began = clock()
            try:
                return function(*args, **kwargs)
            finally:
                self.add(key, clock() - began)

        return timed

    def merged(self) -> dict[str, list]:
        out: dict[str, list] = {}
        with self._lock:
            tables = list(self._all)
        for table in tables:
            for key, (count, seconds) in list(table.items()):
                total = out.setdefault(key, [0, 0.0])
                total[0] += count
                total[1] += seconds
        return out


class _DumpTimings(Middleware):
    def __init__(self, timings: _Timings, directory: str):
        self.timings, self.directory = timings, directory

    def after_worker_shutdown(self, broker, worker) -> None:
        with open(os.path.join(self.directory, f"{os.getpid()}.json"), "w") as out:
            json.dump(self.timings.merged(), out)


def _time_everything(directory: str) -> None:
    timings = _Timings()
    base = Middleware
    for middleware in list(broker.middleware):
        for hook in _HOOKS:
            if getattr(type(middleware), hook, None) is not getattr(base, hook):
                setattr(middleware, hook, timings.wrap(f"{type(middleware).__name__}.{hook}",
                                                       getattr(middleware, hook)))
    # The broker's commands: Dramatiq makes do_* attributes on each access, Filas's broker defines its own (the
    # job view's writes ride on them): pin timed ones of whichever this broker has.
    for command in ("fetch", "ack"):
        setattr(broker, f"do_{command}", timings.wrap(f"RedisBroker.{command} (EVALSHA)",
                                                      getattr(broker, f"do_{command}")))
    noop.fn = timings.wrap("actor noop()", noop.fn)
    broker.add_middleware(_DumpTimings(timings, directory))


class _Profile(Middleware):
    """cProfile per worker/consumer thread (cProfile profiles only the thread that enables it)."""

    def __init__(self, directory: str):
        self.directory = directory
        self._local = threading.local()

    def _start(self) -> None:
        import cProfile

        # CPU time of this thread, not wall time: wall time here is mostly waiting for the GIL and Redis.
        self._local.profile = cProfile.Profile(time.thread_time)
        self._local.profile.enable()

    def _stop(self, kind: str) -> None:
        profile = getattr(self._local, "profile", None)
        if profile is not None:
            profile.disable()
            profile.dump_stats(os.path.join(self.directory, f"{os.getpid()}-{kind}-{threading.get_ident()}.prof"))

    def after_worker_thread_boot(self, broker, thread) -> None:
        self._start()

    def before_worker_thread_shutdown(self, broker, thread) -> None:
        self._stop("worker")

    def after_consumer_thread_boot(self, broker, thread) -> None:
        self._start()

    def before_consumer_thread_shutdown(self, broker, thread) -> None:
        self._stop("consumer")


if os.environ.get("BENCH_JOB_CORE_TIMING"):
    _time_everything(os.environ["BENCH_JOB_CORE_TIMING"])
if os.environ.get("BENCH_JOB_CORE_PROFILE"):
    broker.add_middleware(_Profile(os.environ["BENCH_JOB_CORE_PROFILE"]))
