"""A lighter job core? No-op jobs through bare Dramatiq and through Filas's worker stack, side by side.

1. Drain: N no-op messages are put on queue `jobcore` of an emptied Redis (FLUSHALL), then the `dramatiq`
   CLI starts as a real process tree (2 processes x 8 threads, `--queues jobcore`) on bench/_noop_actors.py,
   and the harness polls the queue's message bodies (HLEN dramatiq:jobcore.msgs: a body is deleted on ack)
   every 20 ms until none is left. Stacks (BENCH_JOB_CORE_STACK, see _noop_actors.py):
   - bare: RedisBroker with Dramatiq's default middleware and library defaults;
   - filas: filas.broker.build_broker(settings), what the workers run: FilasRedisBroker (job-view writes
     ride with the message's enqueue and ack in one pipeline; a fetched batch is started in one call),
     JobStateMiddleware, RowLifecycleMiddleware, CurrentMessage, Filas's heartbeat timeout and maintenance
     chance;
   - filas+prom: the same plus Filas's worker metrics (filas.worker_metrics, as filas.broker.add_worker_metrics
     adds it: prometheus-client multiprocess files, served by a forked process); bare+prom: bare plus
     Dramatiq's bundled Prometheus middleware, the one it replaced.
   The messages are put there with the same Lua scripts as the real enqueue (Dramatiq's dispatch; for the
   Filas stacks also the job view's enqueue script), pipelined, so that each Filas job starts from the
   `queued` job view a real enqueue leaves. Stacks alternate, in a rotated order each round.
   Per run: jobs/s between 10 % and 90 % drained (steady state, both processes up) and from launch to drained
   (boot included); worker and Redis CPU per job in that window; Redis commands per job (INFO commandstats,
   launch to drained, the harness's own HLEN/INFO left out) — client commands (EVALSHA and plain commands:
   one round trip each unless pipelined) and the commands the Lua scripts run inside Redis; the worker tree's
   PSS when drained.
2. Enqueue: M messages, one `broker.enqueue` at a time from this process, bare RedisBroker vs
   build_broker(settings) (its after_enqueue writes the job view), alternating; rate, latency and Redis
   commands per enqueue.
3. Per-call costs, one thread in this process, no contention: the CPU time (time.thread_time) and Redis time
   of each piece a job goes through — Dramatiq's ack alone and with the view's finish riding along, the
   view's start per job of a fetched batch and alone, each middleware's process_message hooks — to say what
   costs what in the drain figures.

No-op actors have no domain row (RowLifecycleMiddleware does nothing for them): the database URL the settings
need is a SQLite file in the run directory, never opened. Figures are noisy on a shared 2-vCPU machine: the
machine's busy share during each drain is printed; compare stacks within one run, not across runs.

    .venv/bin/python bench/job_core.py [--jobs 12000] [--rounds 3] [--stacks bare,filas,filas+prom]
                                       [--enqueues 5000] [--enqueue-rounds 3] [--calls 3000] [--timing]

--timing adds one run per stack with every middleware hook, the actor, fetch and ack timed inside the
workers (wall µs per call; this slows the run it measures, so it is not in the throughput tables).
"""

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import redis
from _support import Bench, MachineCpu, PssSampler, cpu_used, free_port, mib, run, table, tree_cpu_seconds

from filas_devtools.process_group import GroupProcess, tail
from filas_devtools.redis_server import RedisServer

BENCH_DIR = Path(__file__).resolve().parent
DRAMATIQ = str(Path(sys.executable).with_name("dramatiq"))
QUEUE = "jobcore"  # as in _noop_actors.py (not imported here: importing it builds a broker)
ACTOR = "noop"
PROCESSES, THREADS = 2, 8
POLL_SECONDS = 0.02
DRAIN_TIMEOUT = 120.0
HARNESS_COMMANDS = {"hlen", "info", "flushall", "config|resetstat", "ping"}
# Commands only the Lua scripts run here (Dramatiq's dispatch.lua, filas.jobs): inside Redis, not sent by clients.
LUA_INNER = {"zadd", "hset", "rpush", "lpop", "sadd", "hmget", "srem", "hdel", "zrangebyscore", "smembers",
             "hexists", "keys", "zrem", "del", "hget", "hsetnx", "zremrangebyscore", "expire", "hincrby",
             "exists", "scard"}
DEFAULT_STACKS = "bare,filas,filas+prom"
ALL_STACKS = ("bare", "bare+prom", "filas", "filas+prom", "filas-view", "filas-maint")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=12_000, help="no-op messages per drain (default 12000)")
    parser.add_argument("--rounds", type=int, default=3, help="drains per stack, alternating (default 3)")
    parser.add_argument("--stacks", default=DEFAULT_STACKS,
                        help=f"comma-separated, first is the baseline (default {DEFAULT_STACKS}; also: "
                             "bare+prom, filas-view = no JobStateMiddleware, filas-maint = Dramatiq's "
                             "maintenance chance and heartbeat timeout; see _noop_actors.py)")
    parser.add_argument("--enqueues", type=int, default=5_000, help="messages per enqueue run (default 5000)")
    parser.add_argument("--enqueue-rounds", type=int, default=3, help="enqueue runs per broker (default 3)")
    parser.add_argument("--calls", type=int, default=3000, help="calls per piece in the per-call table (default 3000)")
    parser.add_argument("--timing", action="store_true", help="also time each hook inside the workers")
    args = parser.parse_args()
    args.stack_list = [s.strip() for s in args.stacks.split(",") if s.strip()]
    unknown = set(args.stack_list) - set(ALL_STACKS)
    if unknown:
        parser.error(f"unknown stacks {sorted(unknown)}; known: {', '.join(ALL_STACKS)}")
    return args


# --- Redis figures ---------------------------------------------------------------------------------------


class RedisStats:
    """INFO commandstats and CPU at one moment; `minus` gives what happened between two moments."""

    def __init__(self, client: redis.Redis):
        self.commands = {name.removeprefix("cmdstat_"): (stats["calls"], stats["usec"])
                         for name, stats in client.info("commandstats").items()}
        cpu = client.info("cpu")
        self.cpu_seconds = cpu["used_cpu_user"] + cpu["used_cpu_sys"]

    def minus(self, before: "RedisStats") -> dict[str, tuple[int, int]]:
        delta = {}
        for name, (calls, usec) in self.commands.items():
            if name in HARNESS_COMMANDS:
                continue
            was_calls, was_usec = before.commands.get(name, (0, 0))
            if calls > was_calls:
                delta[name] = (calls - was_calls, usec - was_usec)
        return delta


def round_trips(delta: dict[str, tuple[int, int]]) -> int:
    return sum(calls for name, (calls, _) in delta.items() if name not in LUA_INNER)


def all_commands(delta: dict[str, tuple[int, int]]) -> int:
    return sum(calls for calls, _ in delta.values())


# --- 1. drain ------------------------------------------------------------------------------------------------


def enqueue_pipelined(client: redis.Redis, count: int, with_view: bool, retention_seconds: int) -> list:
    """`count` messages put on the queue with the real enqueue scripts (Dramatiq's dispatch and, with_view, the
    job view's), 1000 per round trip; the messages as enqueued (with their redis_message_id)."""
    from dramatiq import Message
    from dramatiq.brokers.redis import RedisBroker

    from filas.jobs import JobStore
    from filas.middleware import JobStateMiddleware

    RedisBroker(client=client, middleware=[])._max_unpack_size()  # cached per class; a pipeline can't ask
    pipe = client.pipeline(transaction=False)
    broker = RedisBroker(client=pipe, middleware=[])
    if with_view:
        broker.add_middleware(JobStateMiddleware(JobStore(pipe, retention_seconds)))
    messages = []
    for done in range(1, count + 1):
        messages.append(broker.enqueue(Message(queue_name=QUEUE, actor_name=ACTOR, args=(), kwargs={}, options={})))
        if done % 1000 == 0:
            pipe.execute()
    pipe.execute()
    return messages


def preload(redis_url: str, stack: str, jobs: int, retention_seconds: int) -> float:
    """Put `jobs` messages on the emptied queue as a real enqueue would (pipelined); seconds taken."""
    started = time.monotonic()
    with redis.Redis.from_url(redis_url) as client:
        enqueue_pipelined(client, jobs, stack.startswith("filas") and stack != "filas-view", retention_seconds)
        queued = client.llen(f"dramatiq:{QUEUE}")
    if queued != jobs:
        raise RuntimeError(f"preload: {queued} messages queued, {jobs} wanted")
    return time.monotonic() - started


class Drain:
    def __init__(self, stack: str, round_no: int):
        self.stack, self.round_no = stack, round_no
        self.boot_s = self.steady_rate = self.wall_rate = float("nan")
        self.worker_cpu_ms = self.redis_cpu_ms = self.busy_percent = float("nan")
        self.pss_kib = 0
        self.processes = 0
        self.commands: dict[str, tuple[int, int]] = {}
        self.timings: dict[str, list] = {}


def drain(bench: Bench, client: redis.Redis, redis_url: str, database_url: str, stack: str, round_no: int,
          jobs: int, retention_seconds: int, timing_dir: Path | None = None) -> Drain:
    result = Drain(stack, round_no)
    client.flushall()
    preload_s = preload(redis_url, stack, jobs, retention_seconds)
    label = f"{stack}-{round_no}" + ("-timing" if timing_dir else "")
    env = {name: value for name, value in os.environ.items() if "prom" not in name.lower()}
    env |= {"BENCH_JOB_CORE_STACK": stack, "FILAS_REDIS_URL": redis_url, "FILAS_DATABASE_URL": database_url,
            "PYTHONUNBUFFERED": "1"}
    if stack.endswith("+prom"):
        prom_dir = bench.run_dir / f"prometheus-{label}"
        prom_dir.mkdir()
        env |= {"dramatiq_prom_db": str(prom_dir), "dramatiq_prom_host": "127.0.0.1",  # Dramatiq's (bare+prom)
                "dramatiq_prom_port": str(free_port()),
                "FILAS_METRICS_DIR": str(prom_dir), "FILAS_METRICS_HOST": "127.0.0.1",  # Filas's (filas+prom)
                "FILAS_METRICS_PORT": str(free_port())}
    else:
        env["FILAS_METRICS_PORT"] = "0"
    if timing_dir is not None:
        timing_dir.mkdir()
        env["BENCH_JOB_CORE_TIMING"] = str(timing_dir)
    argv = [DRAMATIQ, "_noop_actors", "--processes", str(PROCESSES), "--threads", str(THREADS),
            "--path", str(BENCH_DIR), "--queues", QUEUE]
    bodies = f"dramatiq:{QUEUE}.msgs"
    before = RedisStats(client)
    launched = time.monotonic()
    worker = GroupProcess(label, argv, env, BENCH_DIR, bench.run_dir / "logs" / f"{label}.log")
    try:
        first = t10 = t90 = None
        cpu10 = redis10 = machine = None
        deadline = launched + DRAIN_TIMEOUT
        while True:
            left = client.hlen(bodies)
            now = time.monotonic()
            done = jobs - left
            if first is None and done > 0:
                first = now
            if t10 is None and done >= jobs * 0.1:
                t10, cpu10, redis10, machine = now, tree_cpu_seconds(worker.pgid), RedisStats(client), MachineCpu()
            if t90 is None and done >= jobs * 0.9:
                t90 = now
                result.busy_percent = machine.busy_percent()
                result.worker_cpu_ms = cpu_used(cpu10, tree_cpu_seconds(worker.pgid))["all"] * 1000 / (jobs * 0.8)
                result.redis_cpu_ms = (RedisStats(client).cpu_seconds - redis10.cpu_seconds) * 1000 / (jobs * 0.8)
            if left == 0:
                drained = now
                break
            if worker.returncode is not None:
                raise RuntimeError(f"{label}: dramatiq exited ({worker.returncode}):\n{tail(worker.log_path)}")
            if now > deadline:
                raise TimeoutError(f"{label}: {left} of {jobs} messages left after {DRAIN_TIMEOUT:.0f} s")
            time.sleep(POLL_SECONDS)
        result.commands = RedisStats(client).minus(before)
        dead = client.zcard(f"dramatiq:{QUEUE}.XQ")  # a failed job is dead-lettered: it also leaves .msgs
        views = int(client.hget(f"filas:queue_outcomes:{QUEUE}", "finished") or 0)
        with_view = stack.startswith("filas") and stack != "filas-view"
        if dead or (with_view and views != jobs):
            print(f"  WARNING {label}: {dead} dead-lettered, {views} job views finished of {jobs}", flush=True)
        total, breakdown = PssSampler(worker.pgid).sample()
        result.pss_kib, result.processes = total, sum(count for count, _ in breakdown.values())
        result.boot_s = first - launched
        result.steady_rate = jobs * 0.8 / (t90 - t10)
        result.wall_rate = jobs / (drained - launched)
    finally:
        stopping = time.monotonic()
        worker.terminate()
        if not worker.wait_group(stopping + 15):
            worker.signal_group(9)
            worker.wait_group(time.monotonic() + 5)
        worker.close()
        stop_s = time.monotonic() - stopping
    if timing_dir is not None:
        for dump in timing_dir.glob("*.json"):
            for key, (count, seconds) in json.loads(dump.read_text()).items():
                entry = result.timings.setdefault(key, [0, 0.0])
                entry[0] += count
                entry[1] += seconds
    print(f"  {label}: {result.steady_rate:,.0f} jobs/s (10->90 %); preload {preload_s:.1f} s, boot "
          f"{result.boot_s:.1f} s, drain {jobs / result.wall_rate - result.boot_s:.1f} s, stop {stop_s:.1f} s",
          flush=True)
    return result


def drain_tables(runs: list[Drain], stacks: list[str], jobs: int) -> None:
    table(f"Drain of {jobs:,} no-op jobs, dramatiq CLI {PROCESSES} processes x {THREADS} threads, each run",
          ["stack", "round", "boot s", "jobs/s 10->90 %", "jobs/s launch->drained", "worker CPU ms/job",
           "Redis CPU ms/job", "machine busy %", "client cmds/job", "Redis cmds/job", "PSS MiB", "processes"],
          [[r.stack, r.round_no, f"{r.boot_s:.1f}", f"{r.steady_rate:,.0f}", f"{r.wall_rate:,.0f}",
            f"{r.worker_cpu_ms:.3f}", f"{r.redis_cpu_ms:.3f}", f"{r.busy_percent:.0f}",
            f"{round_trips(r.commands) / jobs:.2f}", f"{all_commands(r.commands) / jobs:.2f}", mib(r.pss_kib),
            r.processes] for r in runs],
          note="boot: launch until the first ack. CPU per job and machine busy: between 10 % and 90 % drained.\n"
               "client cmds: commands clients sent (EVALSHA, plain commands; one per round trip unless pipelined); "
               "Redis cmds: those plus the commands the Lua scripts ran.",
          left=[0])

    base = stacks[0]
    by_stack = {stack: [r for r in runs if r.stack == stack] for stack in stacks}
    base_rate = statistics.median(r.steady_rate for r in by_stack[base])
    rows = []
    for stack, mine in by_stack.items():
        rate = statistics.median(r.steady_rate for r in mine)
        rows.append([stack, len(mine), f"{rate:,.0f}", f"{rate / base_rate:.2f}x",
                     f"{statistics.median(r.wall_rate for r in mine):,.0f}",
                     f"{statistics.median(r.worker_cpu_ms for r in mine):.3f}",
                     f"{statistics.median(r.redis_cpu_ms for r in mine):.3f}",
                     f"{statistics.median(round_trips(r.commands) for r in mine) / jobs:.2f}",
                     f"{statistics.median(all_commands(r.commands) for r in mine) / jobs:.2f}",
                     mib(statistics.median(r.pss_kib for r in mine))])
    table(f"Drain, median per stack (ratio: jobs/s 10->90 % against {base}; goal for filas >= 0.85x)",
          ["stack", "runs", "jobs/s", f"vs {base}", "jobs/s incl. boot", "worker CPU ms/job", "Redis CPU ms/job",
           "client cmds/job", "Redis cmds/job", "PSS MiB"], rows, left=[0])

    names = set()
    for r in runs:
        names |= set(r.commands)

    def per_job(stack: str, name: str) -> float:
        return statistics.median(r.commands.get(name, (0, 0))[0] for r in by_stack[stack]) / jobs

    def usec_per_call(stack: str, name: str) -> str:
        calls = sum(r.commands.get(name, (0, 0))[0] for r in by_stack[stack])
        usec = sum(r.commands.get(name, (0, 0))[1] for r in by_stack[stack])
        return f"{usec / calls:.1f}" if calls else "-"

    ordered = sorted(names, key=lambda name: -max(per_job(stack, name) for stack in stacks))
    shown = [name for name in ordered if max(per_job(stack, name) for stack in stacks) >= 0.005]
    headers = ["command", "kind"] + [f"{stack} /job" for stack in stacks] + [f"{stack} µs/call" for stack in stacks]
    rows = [[name, "in Lua" if name in LUA_INNER else "client"]
            + [f"{per_job(stack, name):.3f}" for stack in stacks]
            + [usec_per_call(stack, name) for stack in stacks] for name in shown]
    table("Drain, Redis commands per job by command (median of runs; µs/call: Redis's own time per call, "
          "an EVALSHA's includes the commands its script runs)", headers, rows,
          note="Left out: the harness's own HLEN/INFO polls, and commands under 0.005 per job.", left=[0, 1])


def timing_table(runs: list[Drain]) -> None:
    for r in runs:
        jobs = max(1, r.timings.get("actor noop()", [1])[0])
        rows = [[key, f"{count:,}", f"{seconds / count * 1e6:.0f}", f"{seconds / jobs * 1e6:.0f}"]
                for key, (count, seconds) in sorted(r.timings.items(), key=lambda kv: -kv[1][1])]
        table(f"Inside the workers, {r.stack}: wall time per hook (summed over threads; slowed by the timing "
              f"itself: {r.steady_rate:,.0f} jobs/s in this run)",
              ["hook", "calls", "µs/call", "µs/job"], rows, left=[0])


# --- 2. enqueue ----------------------------------------------------------------------------------------------


def enqueue_run(client: redis.Redis, kind: str, count: int, round_no: int) -> dict:
    from dramatiq import Message
    from dramatiq.brokers.redis import RedisBroker

    from filas.broker import build_broker
    from filas.settings import get_settings

    client.flushall()
    broker = RedisBroker(url=get_settings().redis_url) if kind == "bare" else build_broker(get_settings())
    warm = [Message(queue_name=QUEUE, actor_name=ACTOR, args=(), kwargs={}, options={}) for _ in range(200)]
    for message in warm:
        broker.enqueue(message)
    messages = [Message(queue_name=QUEUE, actor_name=ACTOR, args=(), kwargs={}, options={}) for _ in range(count)]
    latencies = []
    before = RedisStats(client)
    clock = time.perf_counter
    started = clock()
    for message in messages:
        began = clock()
        broker.enqueue(message)
        latencies.append(clock() - began)
    elapsed = clock() - started
    delta = RedisStats(client).minus(before)
    broker.close()
    latencies.sort()
    return {"kind": kind, "round": round_no, "rate": count / elapsed,
            "p50": latencies[len(latencies) // 2], "p99": latencies[int(len(latencies) * 0.99)],
            "round_trips": round_trips(delta) / count, "commands": all_commands(delta) / count,
            "redis_usec": sum(usec for name, (_, usec) in delta.items() if name not in LUA_INNER) / count}


def enqueue_tables(runs: list[dict], count: int) -> None:
    table(f"Enqueue of {count:,} messages, one broker.enqueue at a time from one process (after 200 warm-up)",
          ["broker", "round", "enqueues/s", "p50 µs", "p99 µs", "client cmds/enqueue", "Redis cmds/enqueue",
           "Redis µs/enqueue"],
          [[r["kind"], r["round"], f"{r['rate']:,.0f}", f"{r['p50'] * 1e6:.0f}", f"{r['p99'] * 1e6:.0f}",
            f"{r['round_trips']:.2f}", f"{r['commands']:.2f}", f"{r['redis_usec']:.1f}"] for r in runs], left=[0])
    medians = {kind: statistics.median(r["rate"] for r in runs if r["kind"] == kind) for kind in ("bare", "filas")}
    print(f"median enqueues/s: bare {medians['bare']:,.0f}, filas {medians['filas']:,.0f} "
          f"({medians['filas'] / medians['bare']:.2f}x)")


# --- 3. per-call costs -------------------------------------------------------------------------------------------


def call_costs(client: redis.Redis, run_dir: Path, calls: int) -> None:
    """CPU and Redis time of each piece of a job's path, called `calls` times from this thread."""
    import dramatiq
    from dramatiq import Message
    from dramatiq.broker import MessageProxy
    from dramatiq.brokers.redis import RedisBroker
    from dramatiq.middleware import CurrentMessage

    from filas.broker import get_job_store
    from filas.jobs import JobStatus, StartRequest
    from filas.middleware import JobStateMiddleware, RowLifecycleMiddleware
    from filas.redis_broker import FilasRedisBroker
    from filas.settings import get_settings

    os.environ["dramatiq_prom_db"] = str(run_dir / "prometheus-calls")
    from dramatiq.middleware.prometheus import Prometheus

    settings = get_settings()
    bare = RedisBroker(url=settings.redis_url)
    ack = bare._dispatch("ack")
    filas = FilasRedisBroker(url=settings.redis_url, middleware=[])
    filas.broker_id = bare.broker_id  # the messages `fresh` fetches sit in bare's ack set
    dramatiq.actor(lambda: None, actor_name=ACTOR, queue_name=QUEUE, broker=bare)  # Callbacks, Pipelines look it up
    store = get_job_store()
    job_state = JobStateMiddleware(store)
    rows = RowLifecycleMiddleware(settings.job_lease_seconds)
    current = CurrentMessage()
    prometheus = Prometheus()
    prometheus.after_process_boot(bare)

    def fresh(needs: str | None) -> list:
        if needs is None:  # pure Python hooks: nothing in Redis needed
            return [MessageProxy(Message(queue_name=QUEUE, actor_name=ACTOR, args=(), kwargs={},
                                         options={"redis_message_id": str(uuid.uuid4())})) for _ in range(calls)]
        client.flushall()
        messages = [MessageProxy(m) for m in enqueue_pipelined(client, calls, needs != "ack",
                                                               settings.job_retention_seconds)]
        if needs == "ack":  # fetched by `bare`, as a worker's consumer does: the ack finds them in its ack set
            while bare.do_fetch(QUEUE, 500):
                pass
        if needs == "started":
            for message in messages:
                job_state.before_process_message(bare, message)
        return messages

    def hooks(*middleware):
        def call(message):
            for m in middleware:
                m.before_process_message(bare, message)
            for m in reversed(middleware):
                m.after_process_message(bare, message, result=None)
        return call

    def ack_with_finish(message):
        filas.send_with(message.options["redis_message_id"],
                        store.finish_call(message.message_id, ACTOR, QUEUE, JobStatus.FINISHED, result=None))
        filas.do_ack(QUEUE, message.options["redis_message_id"])

    batch = []

    def start_in_batches_of_8(message):  # as JobStateMiddleware starts a fetched batch
        batch.append(StartRequest(message.message_id, ACTOR, QUEUE))
        if len(batch) == 8:
            store.start_many(batch)
            batch.clear()

    pieces = [
        ("Dramatiq ack (dispatch EVALSHA), message fetched", "ack",
         lambda m: ack(QUEUE, m.options["redis_message_id"])),
        ("Filas ack with the job view's finish riding along", "ack", ack_with_finish),
        ("job view start, fetched batches of 8 (per job)", "queued", start_in_batches_of_8),
        ("Dramatiq default middleware, process_message hooks", None,
         lambda m: (bare.emit_before("process_message", m), bare.emit_after("process_message", m, result=None))),
        ("job view start alone (a message no batch started)", "queued",
         lambda m: job_state.before_process_message(bare, m)),
        ("job view finish alone (on a plain RedisBroker)", "started",
         lambda m: job_state.after_process_message(bare, m, result=None)),
        ("RowLifecycleMiddleware hooks (actor without a row)", None, hooks(rows)),
        ("CurrentMessage hooks", None, hooks(current)),
        ("Prometheus hooks (multiprocess files)", None, hooks(prometheus)),
    ]
    table_rows = []
    for name, needs, piece in pieces:
        messages = fresh(needs)
        before = RedisStats(client)
        wall, cpu = time.perf_counter(), time.thread_time()
        for message in messages:
            piece(message)
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
        delta = RedisStats(client).minus(before)
        redis_usec = sum(usec for command, (_, usec) in delta.items() if command not in LUA_INNER)
        table_rows.append([name, f"{cpu / calls * 1e6:.0f}", f"{wall / calls * 1e6:.0f}",
                           f"{round_trips(delta) / calls:.2f}", f"{redis_usec / calls:.1f}"])
    for variable in ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir"):
        os.environ.pop(variable, None)
    bare.close()
    filas.close()
    table(f"Per call, one thread of this process, no contention ({calls:,} calls each, µs)",
          ["piece of a job's path", "CPU µs", "wall µs", "client cmds", "Redis µs"], table_rows,
          note="CPU: this thread's CPU time (Python + system calls). Redis: the server's own time for the call "
               "(EVALSHA with its script).", left=[0])


# --- main ------------------------------------------------------------------------------------------------------


def main(bench: Bench, args: argparse.Namespace) -> None:
    server = bench.cleanup.enter_context(RedisServer())
    database_url = f"sqlite:///{bench.run_dir / 'unused.db'}"
    os.environ["FILAS_REDIS_URL"] = server.url  # read by get_settings() in this process (enqueue part)
    os.environ["FILAS_DATABASE_URL"] = database_url
    from filas.settings import get_settings

    retention = get_settings().job_retention_seconds
    client = bench.cleanup.enter_context(redis.Redis.from_url(server.url))

    print(f"enqueue: {args.enqueue_rounds} x {args.enqueues:,} per broker", flush=True)
    enqueues = []
    for round_no in range(1, args.enqueue_rounds + 1):
        order = ("bare", "filas") if round_no % 2 else ("filas", "bare")
        for kind in order:
            enqueues.append(enqueue_run(client, kind, args.enqueues, round_no))

    print(f"drain: {args.rounds} rounds x {', '.join(args.stack_list)}, {args.jobs:,} jobs each", flush=True)
    drains = []
    stacks = args.stack_list
    for round_no in range(1, args.rounds + 1):
        shift = (round_no - 1) % len(stacks)
        for stack in stacks[shift:] + stacks[:shift]:
            drains.append(drain(bench, client, server.url, database_url, stack, round_no, args.jobs, retention))
    timed = []
    if args.timing:
        for stack in stacks:
            timed.append(drain(bench, client, server.url, database_url, stack, 0, args.jobs, retention,
                               timing_dir=bench.run_dir / f"timing-{stack}"))

    enqueue_tables(enqueues, args.enqueues)
    drain_tables(drains, stacks, args.jobs)
    if timed:
        timing_table(timed)
    if args.calls:
        call_costs(client, bench.run_dir, args.calls)


if __name__ == "__main__":
    arguments = parse_args()
    per_drain = 10 + arguments.jobs / 800
    limit = 60 + arguments.rounds * len(arguments.stack_list) * per_drain * (1.5 if arguments.timing else 1)
    run(lambda bench: main(bench, arguments), "job_core", time_limit=limit + arguments.enqueue_rounds * 30)
