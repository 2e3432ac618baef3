"""Shared setup for the benchmarks in bench/ (not a benchmark itself: `make bench` skips files starting with "_").

Every benchmark is a plain script that

- starts what it needs: a throwaway Redis and PostgreSQL (filas_devtools), and the simulators and services
  as real processes from `filas_devtools.stack` (the one definition of the local system), each
  benchmark on free ports, in a temporary run directory;
- measures, and prints tables of figures (it never asserts a timing);
- stops everything it started, also on Ctrl-C, SIGTERM, an exception or its own time limit (SIGALRM).

    def main(bench: Bench) -> None:
        redis_url, database_url = bench.databases()
        system = bench.start(["api"], bench.config(redis_url, database_url))
        ...

    if __name__ == "__main__":
        run(main, "api_accept", time_limit=170)

Only 127.0.0.1 is ever contacted. BENCH_KEEP_LOGS=1 keeps the processes' logs (they are kept anyway when a
benchmark fails) and prints where they are.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import httpx

from filas_devtools.chromium import ChromiumMissing, find_chromium
from filas_devtools.ports import free_port
from filas_devtools.postgres_server import PostgresServer
from filas_devtools.process_group import proc_stats
from filas_devtools.redis_server import RedisServer
from filas_devtools.stack import ProcessSpec, Stack, StackConfig, migrate_spec, process_specs


class BenchTimeLimit(Exception):
    """The benchmark ran past its own time limit."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM."""


# --- running a benchmark -------------------------------------------------------------------------


class Bench:
    """What a benchmark has started; `run` stops all of it, in reverse order."""

    def __init__(self, name: str, cleanup: contextlib.ExitStack):
        self.name = name
        self.cleanup = cleanup
        self.run_dir = Path(tempfile.mkdtemp(prefix=f"filas-bench-{name}-"))
        self.stacks: list[Stack] = []
        self._counter = itertools.count(1)

    def databases(self) -> tuple[str, str]:
        """A throwaway Redis and PostgreSQL: (redis_url, database_url). The database is not migrated yet:
        the first `start` runs `filas-migrate`, as `make run` does."""
        redis = self.cleanup.enter_context(RedisServer())
        postgres = self.cleanup.enter_context(PostgresServer())
        return redis.url, postgres.url

    def config(self, redis_url: str, database_url: str, **overrides: Any) -> StackConfig:
        """The stack's configuration on free ports (chromium: the one the portal worker would pick, see
        filas_devtools.chromium; FILAS_CHROMIUM_PATH is honoured)."""
        if "chromium_path" not in overrides:
            overrides["chromium_path"] = _worker_chromium_path()
        return StackConfig.with_free_ports(redis_url, database_url, **overrides)

    def start(
        self,
        names: Sequence[str],
        config: StackConfig,
        *,
        migrate: bool = False,
        env: dict[str, dict[str, str]] | None = None,
        label: str | None = None,
    ) -> Stack:
        """Start the named processes of the stack (stack.py's commands and environment, `env[name]` added)
        and wait until they are ready. Each call gets a run directory of its own (a Stack clears its
        logs/ when it starts). Stopped by `run` at the end, or earlier with `stop(stack)`."""
        run_dir = self.run_dir / f"{next(self._counter)}-{label or '-'.join(names)}"
        specs = {spec.name: spec for spec in process_specs(config, run_dir)}
        unknown = set(names) - set(specs)
        if unknown:
            raise ValueError(f"no such process in stack.py: {sorted(unknown)}")
        chosen = [_with_env(specs[name], (env or {}).get(name, {})) for name in names]
        stack = Stack(config, run_dir, specs=chosen, setup=[migrate_spec(config)] if migrate else [])
        self.stacks.append(stack)
        self.cleanup.callback(stack.stop)
        stack.start()
        return stack

    def stop(self, stack: Stack) -> None:
        stack.stop()

    def logs_hint(self) -> str:
        return "\n".join(stack.tails(15) for stack in self.stacks)


@functools.cache
def _worker_chromium_path() -> str:
    """The worker's Chromium ("": Playwright's own), looked up once; "" also when there is none (a benchmark
    that launches no browser does not need one; one that does fails at its launch, saying what to install)."""
    try:
        return find_chromium().executable_path or ""
    except ChromiumMissing:
        return ""


def _with_env(spec: ProcessSpec, extra: dict[str, str]) -> ProcessSpec:
    return dataclasses.replace(spec, env={**spec.env, **extra}) if extra else spec


def run(main: Callable[[Bench], None], name: str, time_limit: float) -> None:
    """Run `main`, stop whatever it started, print how long it took; exit 1 if it failed."""
    started = time.monotonic()
    print(f"({name}: {os.cpu_count()} vCPUs, load average {_load_average()} at the start; "
          "other work on this machine skews every figure)", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGALRM, _time_limit)
    signal.setitimer(signal.ITIMER_REAL, time_limit)
    failed = None
    with contextlib.ExitStack() as cleanup:
        bench = Bench(name, cleanup)
        try:
            main(bench)
        except Interrupted:
            failed = "interrupted"
        except BenchTimeLimit:
            failed = f"stopped at its time limit ({time_limit:.0f} s)"
        except Exception as error:
            import traceback

            traceback.print_exc()
            failed = f"failed: {type(error).__name__}: {error}"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            for signum in (signal.SIGINT, signal.SIGTERM):  # the clean-up must not be interrupted
                signal.signal(signum, signal.SIG_IGN)
            if failed == "interrupted":
                print(f"\n{name}: interrupted; stopping everything it started", file=sys.stderr)
            elif failed:
                print(f"\n{name}: {failed}; last lines of each process's log:\n{bench.logs_hint()}", file=sys.stderr)
        cleanup.close()
    if failed or os.environ.get("BENCH_KEEP_LOGS"):
        print(f"{name}: process logs kept in {bench.run_dir}", file=sys.stderr)
    else:
        shutil.rmtree(bench.run_dir, ignore_errors=True)
    print(f"\n({name}: {time.monotonic() - started:.0f} s in all, including start and stop)", flush=True)
    sys.exit(1 if failed else 0)


def _load_average() -> str:
    try:
        with open("/proc/loadavg") as loadavg:
            return " / ".join(loadavg.read().split()[:3]) + " (1 / 5 / 15 min)"
    except OSError:
        return "unknown"


def _interrupt(signum, frame) -> None:
    raise Interrupted(signal.Signals(signum).name)


def _time_limit(signum, frame) -> None:
    raise BenchTimeLimit()


# --- HTTP ------------------------------------------------------------------------------------------


def api_client(stack: Stack, timeout: float = 30.0) -> httpx.Client:
    return httpx.Client(base_url=stack.api_url, headers={"Authorization": f"Bearer {stack.token}"},
                        timeout=timeout)


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll `check` until it returns something truthy (returned); TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not done after {timeout:.0f} s")
        time.sleep(interval)


# --- statistics and tables -------------------------------------------------------------------------


def percentile(values: Iterable[float], p: float) -> float:
    """The p-th percentile (0..100), linear between closest ranks; nan when there are no values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ms(seconds: float) -> str:
    return "-" if seconds != seconds else f"{seconds * 1000:.1f}"  # nan → "-"


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]], note: str = "",
          left: Sequence[int] = ()) -> None:
    """Print an aligned table: figures right-aligned, except in the columns listed in `left`."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(str(h)), *(len(row[i]) for row in cells)) if cells else len(str(h))
              for i, h in enumerate(headers)]

    def line(row: Sequence[str], align_numbers: bool) -> str:
        out = []
        for i, cell in enumerate(row):
            numeric = align_numbers and i not in left and _looks_numeric(cell)
            out.append(cell.rjust(widths[i]) if numeric else cell.ljust(widths[i]))
        return "  ".join(out).rstrip()

    print(f"\n{title}")
    print(line([str(h) for h in headers], False))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print(line(row, True))
    if note:
        print(note)
    sys.stdout.flush()


def _looks_numeric(cell: str) -> bool:
    """Figures are right-aligned: "12.3", "-", "> 300", "~40", "1,234", "95 %"."""
    return cell == "-" or bool(_FIGURE.match(cell))


_FIGURE = re.compile(r"^[<>~]?\s*[-+]?\d[\d,]*(\.\d+)?\s*(%|s|ms|MiB|KiB|x)?$")


# --- memory: PSS of a process tree ------------------------------------------------------------------


def process_tree(root: int) -> list[int]:
    """`root` and all its live descendants (by parent pid, so also children that left its session,
    like the Chromium that Playwright's driver starts in a process group of its own)."""
    children: dict[int, list[int]] = {}
    for proc in proc_stats():
        if proc.state not in "ZX":
            children.setdefault(proc.ppid, []).append(proc.pid)
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def pss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def process_kind(pid: int) -> str:
    """python (dramatiq), node (Playwright's driver), chromium, or the executable's name."""
    try:
        exe = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:  # e.g. a non-dumpable Chromium process: its name is still readable
        try:
            with open(f"/proc/{pid}/comm") as comm:
                exe = comm.read().strip()
        except OSError:
            return "?"
    if exe.startswith("python") or exe == "dramatiq":
        return "python"
    if exe.startswith("chrom") or exe.startswith("headless"):
        return "chromium"
    return exe


class PssSampler:
    """Samples the PSS of a process tree in a thread; keeps the peak total and its breakdown by kind."""

    def __init__(self, root_pid: int, interval: float = 0.25):
        self.root_pid = root_pid
        self.interval = interval
        self.peak_kib = 0
        self.peak_breakdown: dict[str, tuple[int, int]] = {}  # kind → (processes, KiB) at the peak
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pss-sampler", daemon=True)

    def sample(self) -> tuple[int, dict[str, tuple[int, int]]]:
        total, breakdown = 0, {}
        for pid in process_tree(self.root_pid):
            kib = pss_kib(pid)
            if kib is None:
                continue
            kind = process_kind(pid)
            count, sofar = breakdown.get(kind, (0, 0))
            breakdown[kind] = (count + 1, sofar + kib)
            total += kib
        return total, breakdown

    def __enter__(self) -> PssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            total, breakdown = self.sample()
            self.samples += 1
            if total > self.peak_kib:
                self.peak_kib, self.peak_breakdown = total, breakdown
            self._stop.wait(self.interval)


# --- CPU -----------------------------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root: int) -> dict[str, float]:
    """CPU time (user + system) used so far by `root`'s live process tree, including children they reaped,
    by process kind (see `process_kind`) and in all ("all")."""
    by_kind: dict[str, float] = {}
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        seconds = sum(int(value) for value in fields[11:15]) / CLOCK_TICKS  # utime stime cutime cstime
        kind = process_kind(pid)
        by_kind[kind] = by_kind.get(kind, 0.0) + seconds
        by_kind["all"] = by_kind.get("all", 0.0) + seconds
    return by_kind


def cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {kind: after[kind] - before.get(kind, 0.0) for kind in after}


class MachineCpu:
    """Share of the machine's CPU time that was busy between `start()` and `busy()`."""

    def __init__(self):
        self._start = self._read()

    @staticmethod
    def _read() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
        idle = values[3] + values[4]  # idle + iowait
        return sum(values) - idle, sum(values)

    def busy_percent(self) -> float:
        busy, total = self._read()
        return 100 * (busy - self._start[0]) / max(1, total - self._start[1])


def mib(kib: float) -> str:
    return f"{kib / 1024:.0f}"


__all__ = [
    "Bench",
    "BenchTimeLimit",
    "MachineCpu",
    "PssSampler",
    "api_client",
    "cpu_used",
    "free_port",
    "mib",
    "ms",
    "percentile",
    "process_tree",
    "run",
    "table",
    "tree_cpu_seconds",
    "wait_for",
]
