"""Bookings per minute, CPU and memory of one portal-worker process (stack.py's: 1 process x 2 threads) with a
real headless Chromium (the one the worker picks: a headless shell first, see filas_portal.browser) against the
portal simulator, side by side with a bare Playwright script doing the same steps with the same Chromium
(bench/_bare_portal_booker.py: 2 threads, a fresh context per booking, the saved session) in the same run, on
the same simulator, in alternating rounds; then the worker's memory over a long run with recycling.

Starts Redis, PostgreSQL, the portal simulator, the API and the portal worker (stack.py). Two warm-up
bookings first (each worker thread launches its own Chromium and the first one logs in: the cold cost,
reported apart). Then, in each of --rounds rounds (the machine's drift shared by both sides), the bare script
books N / rounds loads (twice: as written, and blocking what the worker blocks; one unmeasured warm-up booking
per thread first), then N / rounds bookings are posted through the API at once and followed through GET
status-job until finished. Figures pool the rounds; "Filas / bare" is also given per round.
Per-booking durations of the worker come from the job state timestamps the API reports (iniciado_em,
finalizado_em); the bare script times each booking itself. Memory: the sum of PSS (/proc/<pid>/smaps_rollup)
over the whole process tree (for the worker: dramatiq main process, its worker process, Prometheus exporter,
Playwright's node driver and every Chromium process), sampled every 0.25 s. Last, --curve bookings more show
the worker's memory as its browsers are recycled (FILAS_PORTAL_BROWSER_MAX_BOOKINGS, default 100 per thread).

    .venv/bin/python bench/portal_throughput.py [--bookings 40] [--rounds 4] [--curve 200]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from _support import (
    Bench,
    MachineCpu,
    PssSampler,
    api_client,
    cpu_used,
    mib,
    percentile,
    process_kind,
    process_tree,
    pss_kib,
    run,
    table,
    tree_cpu_seconds,
    wait_for,
)
from prometheus_client.parser import text_string_to_metric_families

TOMORROW = (dt.date.today() + dt.timedelta(days=1)).isoformat()
WARM_UP = 2
FINAL = ("finished", "failed")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bookings", type=int, default=40, help="bookings in the measured batch (default 40)")
    parser.add_argument("--rounds", type=int, default=4,
                        help="alternating rounds of bare, bare + blocking and Filas, sharing --bookings (default 4)")
    parser.add_argument("--curve", type=int, default=200, help="bookings of the memory curve (default 200)")
    return parser.parse_args()


def post_bookings(api: httpx.Client, prefix: str, count: int) -> list[dict]:
    accepted = []
    for n in range(1, count + 1):
        body = {"lote_id": f"{prefix}-{n:03d}", "data_agendamento": TOMORROW, "hora_agendamento": "09:00",
                "transportadora": "Transportes Exemplo", "tipo_veiculo": "truck"}
        response = api.post("/portal/api/solicitar-agendamento-async", json=body)
        if response.status_code != 202:
            raise RuntimeError(f"booking {body['lote_id']} refused: {response.status_code} {response.text}")
        accepted.append(response.json())
    return accepted


def wait_finished(api: httpx.Client, accepted: list[dict], timeout: float) -> list[dict]:
    """Poll the jobs' statuses until all are final; the last status of each, in order.

    In order and one unfinished job per poll (the worker takes them in order): polling every job each time
    would load the API, on the same two cores as the worker, with up to a hundred requests a second that the
    bare script's rounds do not have."""
    last: dict[str, dict] = {}

    def all_final() -> bool:
        for item in accepted:
            job_id = item["job_id"]
            if last.get(job_id, {}).get("status") in FINAL:
                continue
            last[job_id] = api.get(f"/portal/api/status-job/{job_id}").json()
            if last[job_id].get("status") not in FINAL:
                return False
        return True

    wait_for(all_final, timeout, f"{len(accepted)} bookings finishing", interval=0.25)
    return [last[item["job_id"]] for item in accepted]


def when(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def seconds(a: str, b: str) -> float:
    return (when(b) - when(a)).total_seconds()


def main(bench: Bench, args: argparse.Namespace) -> None:
    redis_url, database_url = bench.databases()
    config = bench.config(redis_url, database_url)
    print(f"chromium: {config.chromium_path or 'Playwright default'}", flush=True)
    stack = bench.start(["portal-sim", "api", "portal-worker"], config, migrate=True)
    worker_pid = stack.processes["portal-worker"].popen.pid
    api = bench.cleanup.enter_context(api_client(stack))
    sim = bench.cleanup.enter_context(httpx.Client(base_url=stack.portal_url, timeout=10))
    seen_pids: dict[int, str] = {}

    idle_kib, _ = PssSampler(worker_pid).sample()
    started = time.monotonic()
    warm = wait_finished(api, post_bookings(api, "AQUECE", WARM_UP), timeout=120)
    warm_wall = time.monotonic() - started
    launched_kib, launched = PssSampler(worker_pid).sample()

    per_round = max(1, args.bookings // args.rounds)
    bare_rounds: tuple[list[BareRun], list[BareRun]] = ([], [])
    filas_rounds: list[FilasRound] = []
    for number in range(1, args.rounds + 1):
        for runs, block in zip(bare_rounds, (False, True), strict=True):
            runs.append(run_bare_script(config, per_round, block, f"{'BLOCK' if block else 'BARE'}{number}"))
        filas_rounds.append(run_filas_round(api, worker_pid, per_round, f"BENCH{number}"))
        seen_pids |= {pid: "" for pid in process_tree(worker_pid)}
    bare = [BareRun.pooled(runs) for runs in bare_rounds]
    filas = FilasRound.pooled(filas_rounds)
    curve = memory_curve(api, worker_pid, args.curve, seen_pids)
    metrics = scrape(config.portal_metrics_port)
    sim_state = sim.get("/_sim/state").json()
    made = sim.get("/_sim/bookings").json()

    # --- figures ---------------------------------------------------------------------------------
    done = filas.done
    finished = [body for body in done if body["status"] == "finished"]
    failed = [body for body in done if body["status"] != "finished"]
    processing = filas.processing
    waiting = [seconds(b["criado_em"], b["iniciado_em"]) for b in done if b["iniciado_em"]]
    warm_processing = [seconds(b["iniciado_em"], b["finalizado_em"]) for b in warm if b["iniciado_em"]]
    filas_per_booking_pss = filas.peak_kib / 2
    round_ratios = [percentile(f.processing, 50) / b.p50 for f, b in zip(filas_rounds, bare_rounds[0], strict=True)]

    table(
        f"Portal bookings: {per_round * args.rounds} loads in {args.rounds} alternating rounds, 2 threads, headless "
        "Chromium, the portal simulator; the bare Playwright script and Filas's portal worker in the same run",
        ["measure", "bare script", "bare + blocking", "Filas worker", "Filas / bare"],
        [
            ["bookings made / failed", *[f"{b.made} / {b.failed}" for b in bare],
             f"{len(finished)} / {len(failed)}", ""],
            ["throughput (bookings/min)", *[f"{b.per_minute:.0f}" for b in bare],
             f"{len(finished) / filas.wall * 60:.0f}", ratio(len(finished) / filas.wall * 60, bare[0].per_minute)],
            ["time per booking p50 (s)", *[f"{b.p50:.2f}" for b in bare], f"{percentile(processing, 50):.2f}",
             ratio(percentile(processing, 50), bare[0].p50)],
            ["time per booking p95 (s)", *[f"{percentile(b.durations, 95):.2f}" for b in bare],
             f"{percentile(processing, 95):.2f}", ""],
            ["CPU per booking, whole process tree (s)", *[f"{b.cpu_per_booking:.2f}" for b in bare],
             f"{filas.cpu_per_booking:.2f}", ratio(filas.cpu_per_booking, bare[0].cpu_per_booking)],
            ["peak PSS of the process tree (MiB)", *[mib(b.peak_kib) for b in bare], mib(filas.peak_kib), ""],
            ["peak PSS per concurrent booking (MiB, / 2 threads)", *[mib(b.peak_kib / 2) for b in bare],
             mib(filas_per_booking_pss), ratio(filas_per_booking_pss, bare[0].peak_kib / 2)],
        ],
        left=[0],
        note=f"(time per booking p50, Filas / bare, round by round: {', '.join(f'{r:.2f}x' for r in round_ratios)}; "
        f"median {percentile(round_ratios, 50):.2f}x. Filas: posting a round through the API "
        f"{max(f.posted for f in filas_rounds):.2f} s at most; machine CPU busy {filas.machine_busy:.0f} % of "
        f"{os.cpu_count()} vCPUs while it booked; Filas / bare compares with the bare script as written; "
        "goals: time <= 1.1x, <= 300 MiB per booking)",
    )
    table(
        "Filas worker, per booking (seconds, from the job state timestamps)",
        ["", "n", "p50", "p95", "max"],
        [
            _row("processing (iniciado -> finalizado)", processing),
            _row("waiting in the queue (criado -> iniciado)", waiting),
            _row("cold warm-up bookings: processing (browser launch, login)", warm_processing),
        ],
        note=f"(warm-up: {WARM_UP} bookings, {warm_wall:.1f} s from posting to both finished; CPU by kind: "
        + ", ".join(f"{kind} {used / len(done):.2f} s" for kind, used in sorted(filas.cpu.items()) if kind != "all")
        + ")",
    )
    breakdown_rows = [[kind, count, mib(kib)] for kind, (count, kib) in sorted(filas.peak_breakdown.items())]
    launched_rows = [[kind, count, mib(kib)] for kind, (count, kib) in sorted(launched.items())]
    table(
        f"portal-worker memory, PSS of the process tree (MiB), {filas.samples} samples while booking",
        ["moment / process kind", "processes", "PSS MiB"],
        [["idle, before any booking (no Chromium yet)", "", mib(idle_kib)],
         ["idle after warm-up (browsers launched)", "", mib(launched_kib)],
         *[["  " + row[0], *row[1:]] for row in launched_rows],
         ["PEAK while booking", "", mib(filas.peak_kib)],
         *[["  " + row[0], *row[1:]] for row in breakdown_rows]],
    )
    table(
        f"portal-worker memory over {args.curve} more bookings (browsers recycled every "
        f"{os.environ.get('FILAS_PORTAL_BROWSER_MAX_BOOKINGS', '100 (default)')} bookings per thread)",
        ["bookings finished", "PSS MiB (tree)", "Chromium processes"],
        [[n, mib(kib), chromiums] for n, kib, chromiums in curve],
        note="(browsers recycled: " + ", ".join(
            f"{reason} {sample(metrics, 'filas_portal_browser_recycles_total', reason=reason):.0f}"
            for reason in ("bookings", "memory", "crashed"))
        + f"; launched {sample(metrics, 'filas_portal_browser_launches_total'):.0f})",
    )
    loads = {m["lote"] for m in made}
    print(f"\nbookings on the portal: {len(made)} for {len(loads)} loads "
          f"(each load booked once: {len(made) == len(loads)}); "
          f"assets fetched: {sim_state.get('assets')}")
    if failed:
        print("\nfailed bookings:", *[f"  {b['job_id']}: {b['resultado']}" for b in failed], sep="\n")
    stop_and_check(bench, stack, seen_pids)


@dataclass
class BareRun:
    durations: list[float]
    made: int
    failed: int
    wall: float
    cpu_per_booking: float
    peak_kib: int

    @property
    def per_minute(self) -> float:
        return self.made / self.wall * 60

    @property
    def p50(self) -> float:
        return percentile(self.durations, 50)

    @classmethod
    def pooled(cls, runs: list[BareRun]) -> BareRun:
        bookings = sum(run.made + run.failed for run in runs)
        return cls([d for run in runs for d in run.durations], sum(run.made for run in runs),
                   sum(run.failed for run in runs), sum(run.wall for run in runs),
                   sum(run.cpu_per_booking * (run.made + run.failed) for run in runs) / bookings,
                   max(run.peak_kib for run in runs))


@dataclass
class FilasRound:
    done: list[dict]  # the jobs' final status bodies
    wall: float  # first created -> last finished, from the jobs' timestamps
    posted: float  # seconds to post the round through the API
    cpu: dict[str, float]  # CPU-seconds of the worker's tree, by process kind and "all"
    machine_busy: float  # % of the machine's CPU
    peak_kib: int
    peak_breakdown: dict[str, tuple[int, int]]
    samples: int

    @property
    def cpu_per_booking(self) -> float:
        return self.cpu["all"] / len(self.done)

    @property
    def processing(self) -> list[float]:
        return [seconds(b["iniciado_em"], b["finalizado_em"]) for b in self.done if b["iniciado_em"]]

    @classmethod
    def pooled(cls, rounds: list[FilasRound]) -> FilasRound:
        peak = max(rounds, key=lambda r: r.peak_kib)
        return cls([b for r in rounds for b in r.done], sum(r.wall for r in rounds), max(r.posted for r in rounds),
                   {kind: sum(r.cpu.get(kind, 0.0) for r in rounds) for kind in {k for r in rounds for k in r.cpu}},
                   sum(r.machine_busy for r in rounds) / len(rounds), peak.peak_kib, peak.peak_breakdown,
                   sum(r.samples for r in rounds))


def run_filas_round(api: httpx.Client, worker_pid: int, bookings: int, prefix: str) -> FilasRound:
    """`bookings` posted through the API at once and followed until finished, the worker's tree measured."""
    with PssSampler(worker_pid) as sampler:
        cpu_before, machine = tree_cpu_seconds(worker_pid), MachineCpu()
        started = time.monotonic()
        accepted = post_bookings(api, prefix, bookings)
        posted = time.monotonic() - started
        done = wait_finished(api, accepted, timeout=60 + 5 * bookings)
        cpu, busy = cpu_used(cpu_before, tree_cpu_seconds(worker_pid)), machine.busy_percent()
    wall = (max(when(b["finalizado_em"]) for b in done) - min(when(b["criado_em"]) for b in done)).total_seconds()
    return FilasRound(done, wall, posted, cpu, busy, sampler.peak_kib, sampler.peak_breakdown,
                      sampler.samples)


def run_bare_script(config, bookings: int, block: bool, prefix: str) -> BareRun:
    """The bare Playwright script, as a process of its own (its whole tree measured like the worker's)."""
    command = [sys.executable, str(Path(__file__).with_name("_bare_portal_booker.py")), config.portal_url,
               config.secrets.portal_username, config.secrets.portal_password, "--bookings", str(bookings),
               "--threads", "2", "--prefix", prefix, *(["--block"] if block else []),
               "--chromium", config.chromium_path]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("the bare script did not start")
        sampler = PssSampler(process.pid)
        with sampler:
            cpu_before, started = tree_cpu_seconds(process.pid), time.monotonic()
            process.stdin.write("go\n")
            process.stdin.flush()
            result = json.loads(process.stdout.readline())
            wall = time.monotonic() - started
            cpu = cpu_used(cpu_before, tree_cpu_seconds(process.pid))["all"]
        process.stdin.write("close\n")
        process.stdin.close()
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    if process.returncode != 0:
        raise RuntimeError(f"the bare script failed with exit status {process.returncode}")
    return BareRun(result["durations"], len(result["protocols"]), bookings - len(result["protocols"]), wall,
                   cpu / bookings, sampler.peak_kib)


def memory_curve(api: httpx.Client, worker_pid: int, count: int, seen_pids: dict[int, str]) -> list[tuple]:
    """Post `count` bookings; the worker tree's PSS each time 10 % more of them have finished."""
    accepted = post_bookings(api, "CURVA", count)
    step = max(count // 10, 1)
    curve, finished = [], 0
    pending = [item["job_id"] for item in accepted]
    deadline = time.monotonic() + 60 + 5 * count
    while pending:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(pending)} of {count} bookings not finished")
        while pending and api.get(f"/portal/api/status-job/{pending[0]}").json().get("status") in FINAL:
            pending.pop(0)  # in order, as in wait_finished
            finished += 1
        if not curve or finished - curve[-1][0] >= step or not pending:
            tree = process_tree(worker_pid)
            seen_pids |= {pid: "" for pid in tree}
            kib = sum(pss_kib(pid) or 0 for pid in tree)
            curve.append((finished, kib, sum(1 for pid in tree if process_kind(pid) == "chromium")))
        time.sleep(0.25)
    return curve


def scrape(port: int) -> str:
    return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text


def sample(metrics: str, name: str, **labels: str) -> float:
    return next((sample.value for family in text_string_to_metric_families(metrics) for sample in family.samples
                 if sample.name == name and sample.labels == labels), float("nan"))


def ratio(filas: float, bare: float) -> str:
    return f"{filas / bare:.2f}x" if bare else ""


def stop_and_check(bench: Bench, stack, seen_pids: dict[int, str]) -> None:
    """Does stopping the worker leave anything behind?"""
    for pid in seen_pids:
        seen_pids[pid] = _exe(pid)
    bench.stop(stack)
    time.sleep(1)
    survivors = [pid for pid, exe in seen_pids.items() if exe and _exe(pid) == exe]
    if survivors:
        print(f"\nWARNING: {len(survivors)} process(es) of the portal worker's tree outlived its stop: "
              + ", ".join(f"{pid} ({os.path.basename(seen_pids[pid])})" for pid in survivors) + "; killing them")
        for pid in survivors:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    else:
        print("\nstopping the portal worker left none of its processes (Chromium included) behind")


def _row(label: str, values: list[float]) -> list:
    return [label, len(values), f"{percentile(values, 50):.2f}", f"{percentile(values, 95):.2f}",
            f"{max(values, default=float('nan')):.2f}"]


def _exe(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


if __name__ == "__main__":
    arguments = parse_args()
    run(lambda bench: main(bench, arguments), "portal_throughput",
        time_limit=180 + 15 * arguments.bookings + 3 * arguments.curve)
