"""Bookings drained per minute by one portal-worker process (stack.py's: 1 process x 2 threads) with a real
headless Chromium (/usr/bin/chromium) against the portal simulator, and that worker's peak memory.

Starts Redis, PostgreSQL, the portal simulator, the API and the portal worker (stack.py). Two warm-up
bookings first (each worker thread launches its own Chromium and the first one logs in: the cold cost,
reported apart), then N bookings posted through the API at once; each is followed through
GET status-job until finished. Per-booking durations come from the job state timestamps the API reports
(criado_em, iniciado_em, finalizado_em). Memory: the sum of PSS (/proc/<pid>/smaps_rollup) over the
worker's whole process tree (dramatiq main process, its worker process, Prometheus exporter, Playwright's
node driver and every Chromium process), sampled every 0.25 s while it runs.

    .venv/bin/python bench/portal_throughput.py [--bookings 20]
"""

import argparse
import datetime as dt
import os
import signal
import time

import httpx
from _support import (
    Bench,
    MachineCpu,
    PssSampler,
    api_client,
    cpu_used,
    mib,
    percentile,
    process_tree,
    run,
    table,
    tree_cpu_seconds,
    wait_for,
)

TOMORROW = (dt.date.today() + dt.timedelta(days=1)).isoformat()
WARM_UP = 2
FINAL = ("finished", "failed")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bookings", type=int, default=20, help="bookings in the measured batch (default 20)")
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
    """Poll every job's status until all are final; the last status of each, in order."""
    last: dict[str, dict] = {}

    def all_final() -> bool:
        for item in accepted:
            job_id = item["job_id"]
            if last.get(job_id, {}).get("status") not in FINAL:
                last[job_id] = api.get(f"/portal/api/status-job/{job_id}").json()
        return all(body.get("status") in FINAL for body in last.values()) and len(last) == len(accepted)

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

    sampler = PssSampler(worker_pid)
    idle_kib, _ = sampler.sample()
    with sampler:
        started = time.monotonic()
        warm = wait_finished(api, post_bookings(api, "AQUECE", WARM_UP), timeout=120)
        warm_wall = time.monotonic() - started
        launched_kib, launched = sampler.sample()
        seen_pids |= {pid: "" for pid in process_tree(worker_pid)}

        cpu_before, machine = tree_cpu_seconds(worker_pid), MachineCpu()
        started = time.monotonic()
        accepted = post_bookings(api, "BENCH", args.bookings)
        posted = time.monotonic() - started
        done = wait_finished(api, accepted, timeout=60 + 5 * args.bookings)
        client_wall = time.monotonic() - started
        worker_cpu, machine_busy = cpu_used(cpu_before, tree_cpu_seconds(worker_pid)), machine.busy_percent()
        seen_pids |= {pid: "" for pid in process_tree(worker_pid)}
    sim_state = sim.get("/_sim/state").json()
    made = sim.get("/_sim/bookings").json()

    # --- figures ---------------------------------------------------------------------------------
    finished = [body for body in done if body["status"] == "finished"]
    failed = [body for body in done if body["status"] != "finished"]
    first_created = min(when(b["criado_em"]) for b in done)
    last_finished = max(when(b["finalizado_em"]) for b in done)
    server_wall = (last_finished - first_created).total_seconds()
    processing = [seconds(b["iniciado_em"], b["finalizado_em"]) for b in done if b["iniciado_em"]]
    waiting = [seconds(b["criado_em"], b["iniciado_em"]) for b in done if b["iniciado_em"]]
    end_to_end = [seconds(b["criado_em"], b["finalizado_em"]) for b in done]
    warm_processing = [seconds(b["iniciado_em"], b["finalizado_em"]) for b in warm if b["iniciado_em"]]

    table(
        f"Portal bookings: {args.bookings} posted at once to one portal-worker (1 process x 2 threads), "
        "headless Chromium, portal simulator",
        ["measure", "value"],
        [
            ["bookings finished / failed", f"{len(finished)} / {len(failed)}"],
            ["posting all through the API (client)", f"{posted:.2f} s"],
            ["first enqueued -> last finished (job state)", f"{server_wall:.1f} s"],
            ["first posted -> all seen finished (client poll, 0.25 s)", f"{client_wall:.1f} s"],
            ["throughput", f"{len(finished) / server_wall * 60:.0f} bookings/min"],
            ["portal-worker CPU per booking, whole tree", f"{worker_cpu['all'] / len(done):.2f} s"],
            *[[f"  of which {kind}", f"{used / len(done):.2f} s"]
              for kind, used in sorted(worker_cpu.items()) if kind != "all"],
            [f"machine CPU busy during the batch ({os.cpu_count()} vCPUs, everything)", f"{machine_busy:.0f} %"],
            ["bookings on the portal (warm-up included)", f"{len(made)} ({len({m['lote'] for m in made})} loads)"],
            ["portal logins / failed logins (warm-up included)",
             f"{sim_state.get('logins', '?')} / {sim_state.get('failed_logins', '?')}"],
        ],
        left=[1],
    )
    table(
        "Per booking (seconds, from the job state timestamps)",
        ["", "n", "p50", "p95", "max"],
        [
            _row("processing (iniciado -> finalizado)", processing),
            _row("waiting in the queue (criado -> iniciado)", waiting),
            _row("end to end (criado -> finalizado)", end_to_end),
            _row("cold warm-up bookings: processing (browser launch, login)", warm_processing),
        ],
        note=f"(warm-up: {WARM_UP} bookings, {warm_wall:.1f} s from posting to both finished)",
    )
    breakdown_rows = [[kind, count, mib(kib)] for kind, (count, kib) in sorted(sampler.peak_breakdown.items())]
    launched_rows = [[kind, count, mib(kib)] for kind, (count, kib) in sorted(launched.items())]
    table(
        f"portal-worker memory, PSS of the process tree (MiB), {sampler.samples} samples",
        ["moment / process kind", "processes", "PSS MiB"],
        [["idle, before any booking (no Chromium yet)", "", mib(idle_kib)],
         ["idle after warm-up (browsers launched)", "", mib(launched_kib)],
         *[["  " + row[0], *row[1:]] for row in launched_rows],
         ["PEAK while booking", "", mib(sampler.peak_kib)],
         *[["  " + row[0], *row[1:]] for row in breakdown_rows]],
    )
    if failed:
        print("\nfailed bookings:", *[f"  {b['job_id']}: {b['resultado']}" for b in failed], sep="\n")

    # --- does stopping the worker leave anything behind? -------------------------------------------
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
    run(lambda bench: main(bench, arguments), "portal_throughput", time_limit=120 + 5 * arguments.bookings)
