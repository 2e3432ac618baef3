"""How fast one campaign-worker process sends a campaign, and what it costs, against the WhatsApp (Evolution API)
simulator through the API (create a campaign of N contacts, validate, send), each figure beside its baseline
measured in the same run:

1. sends per second per worker at zero gateway latency, the rate limit out of reach
   (FILAS_WHATSAPP_RATE_PER_SECOND=100000), next to a bare sender (bench/_bare_campaign_sender.py: the same
   HTTP sends from one process with httpx, as many in flight as the worker's FILAS_CAMPAIGN_SEND_CONCURRENCY,
   no database, no Redis, no Dramatiq): the ceiling the simulator and the machine allow;
2. a campaign at a configured 20 msg/s: its send time next to the ideal contacts / 20 s (measured on --paced-
   contacts, extrapolated to 10,000 at the measured efficiency; --full sends the real 10,000);
3. the CPU one worker process uses to sustain 80 msg/s (the Cloud API's default per-number throughput) with the
   gateway answering after --latency-ms, next to the 0.5-core goal and to the bare sender kept at the pace the
   worker's pacer keeps for 80/s (filas_campaigns.pacing spaces sends for PACE_FRACTION of the configured rate).

Starts Redis, PostgreSQL, the WhatsApp simulator and the API, then per scenario a campaign worker (stack.py's:
1 process x 4 threads) with that scenario's FILAS_WHATSAPP_RATE_PER_SECOND (chunk size and concurrency: the
defaults), warmed up with a 5-contact campaign. Each step is followed through GET /api/task/<task_id>/status
(polled every 0.2 s). A step's time runs from its POST to the finalizado_em the API reports (a campaign is
sent in parts, one delivery each, so iniciado_em is the last part's start); "at the simulator" is the
simulator's view: (n - 1) / (first -> last accepted send). CPU: user + system of the process tree
(/proc/<pid>/stat), from just before the POST to the send seen finished.

    .venv/bin/python bench/campaign_send.py [--contacts 3000] [--paced-contacts 1000 | --full]
                                            [--cpu-contacts 3000] [--latency-ms 50]
"""

import argparse
import datetime as dt
import itertools
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from _support import (
    Bench,
    MachineCpu,
    api_client,
    cpu_used,
    run,
    table,
    tree_cpu_seconds,
    wait_for,
)

from filas.settings import Settings
from filas_campaigns import pacing
from filas_devtools.stack import Stack, StackConfig

ENDED = ("finished", "failed", "cancelled")
RATE_OUT_OF_REACH = 100_000
PACED_RATE = 20
FULL_PACED_CONTACTS = 10_000
CPU_RATE = 80  # the Cloud API's default throughput per number
CPU_GOAL_CORES = 0.5
BEFORE_CHUNKING = "137–196 msg/s, CPU-bound in one process"
CONCURRENCY = Settings.model_fields["campaign_send_concurrency"].default
CHUNK_SIZE = Settings.model_fields["campaign_chunk_size"].default
# The worker's pacer spaces sends for this fraction of the configured rate (1: for the rate itself).
PACE_FRACTION = getattr(pacing, "PACE_FRACTION", 1.0)
MESSAGE = "Olá! Sua consulta está disponível."
WARM_UP_CONTACTS = 5
BARE_FIRST_NUMBER = 500_000  # the bare sender's numbers; the campaigns' count up from 1, warm-ups from 900,000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=3000,
                        help="contacts of the zero-latency campaign, and sends of its bare baseline (default 3000)")
    parser.add_argument("--paced-contacts", type=int, default=1000,
                        help=f"contacts of the {PACED_RATE} msg/s campaign (default 1000: {1000 // PACED_RATE} s "
                             f"ideal; 0 skips it)")
    parser.add_argument("--full", action="store_true",
                        help=f"send the {PACED_RATE} msg/s campaign with {FULL_PACED_CONTACTS:,} contacts "
                             f"({FULL_PACED_CONTACTS // PACED_RATE} s ideal) instead of extrapolating")
    parser.add_argument("--cpu-contacts", type=int, default=3000,
                        help=f"contacts of the {CPU_RATE} msg/s campaign, and sends of its bare baseline "
                             f"(default 3000: {3000 / (CPU_RATE * PACE_FRACTION):.0f} s of sending; 0 skips it)")
    parser.add_argument("--latency-ms", type=int, default=50,
                        help=f"gateway latency of the {CPU_RATE} msg/s scenario (default 50)")
    args = parser.parse_args()
    if args.full:
        args.paced_contacts = FULL_PACED_CONTACTS
    for flag, value, may_skip in (("--contacts", args.contacts, False), ("--paced-contacts", args.paced_contacts, True),
                                  ("--cpu-contacts", args.cpu_contacts, True)):
        if value < 2 and not (may_skip and value == 0):  # rates need two sends
            parser.error(f"{flag} must be at least 2" + (" (or 0 to skip it)" if may_skip else ""))
    return args


def phones(first: int, count: int) -> list[str]:
    """Distinct valid Brazilian mobiles: (85) 99000-0001, ..."""
    return [f"(85) 9{9000 + n // 10000:04d}-{n % 10000:04d}" for n in range(first, first + count)]


def timestamp(iso: str) -> float:
    when = dt.datetime.fromisoformat(iso)
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()


@dataclass
class Step:
    task: dict
    posted: float  # unix time of the POST
    finished: float  # unix time of finalizado_em
    client_s: float  # POST -> seen ended (0.2 s polling)

    @property
    def job_s(self) -> float:
        """POST -> finalizado_em (job state)."""
        return self.finished - self.posted


@dataclass
class SimView:
    """What the simulator accepted, from its own records."""

    messages: list[dict]
    checks: list[list[str]]

    @property
    def at(self) -> list[float]:
        return sorted(m["at"] for m in self.messages)

    @property
    def rate(self) -> float:
        """Sends per second between the first and the last accepted one."""
        at = self.at
        return (len(at) - 1) / (at[-1] - at[0]) if len(at) > 1 and at[-1] > at[0] else math.nan

    @property
    def longest_gap(self) -> float:
        at = self.at
        return max((b - a for a, b in itertools.pairwise(at)), default=math.nan)

    @property
    def distinct(self) -> int:
        return len({m["e164"] for m in self.messages})


class Simulator:
    def __init__(self, client: httpx.Client):
        self.client = client

    def reset(self, latency_ms: int = 0) -> None:
        self.client.post("/_sim/reset").raise_for_status()
        if latency_ms:
            self.client.post("/_sim/config", json={"latency_ms": latency_ms}).raise_for_status()

    def view(self) -> SimView:
        return SimView(self.client.get("/_sim/messages").json(), self.client.get("/_sim/checks").json())


class Campaigns:
    def __init__(self, api: httpx.Client):
        self.api = api

    def create(self, name: str, numbers: list[str]) -> tuple[int, float]:
        body = {"nome": name, "mensagem": MESSAGE,
                "contatos": [{"nome": f"Paciente {i}", "telefone": t} for i, t in enumerate(numbers, 1)]}
        began = time.perf_counter()
        reply = self.api.post("/api/campanhas", json=body)
        took = time.perf_counter() - began
        if reply.status_code != 201:
            raise RuntimeError(f"campaign refused: {reply.status_code} {reply.text[:500]}")
        return reply.json()["campanha"]["id"], took

    def view(self, campaign_id: int) -> dict:
        """The campaign as the API shows it, counts from the database (a task's `resultado` can be read before
        its worker wrote it: the row says the task ended first)."""
        reply = self.api.get(f"/api/campanhas/{campaign_id}")
        reply.raise_for_status()
        return reply.json()["campanha"]

    def step(self, campaign_id: int, action: str, timeout: float) -> Step:
        """Start `action` on the campaign and wait until its task ends, finished (else RuntimeError)."""
        posted, began = time.time(), time.monotonic()
        reply = self.api.post(f"/api/campanhas/{campaign_id}/{action}")
        if reply.status_code != 202:
            raise RuntimeError(f"{action} refused: {reply.status_code} {reply.text[:500]}")
        task_id = reply.json()["task_id"]

        def ended() -> dict | None:
            task = self.api.get(f"/api/task/{task_id}/status").json()
            return task if task.get("status") in ENDED else None

        task = wait_for(ended, timeout, f"{action} of campaign {campaign_id}", interval=0.2)
        client_s = time.monotonic() - began
        if task["status"] != "finished":
            raise RuntimeError(f"{action} of campaign {campaign_id} ended {task['status']}: {task.get('erro')}")
        finished = timestamp(task["finalizado_em"]) if task.get("finalizado_em") else posted + client_s
        return Step(task, posted, finished, client_s)


@dataclass
class Measured:
    """One measured send, by the worker or by the bare sender."""

    label: str
    sent: int  # per the task's result, or the bare sender's count
    seconds: float  # worker: POST /enviar -> finalizado_em; bare: go -> last answer
    cpu_s: float
    cpu_wall_s: float  # the span the CPU was measured over
    sim: SimView
    sim_cpu_s: float
    machine_busy: float
    lead_s: float = math.nan  # worker: POST /enviar -> first accepted send
    tail_s: float = math.nan  # worker: last accepted send -> finalizado_em

    @property
    def per_s(self) -> float:
        return self.sent / self.seconds

    @property
    def cores(self) -> float:
        return self.cpu_s / self.cpu_wall_s

    @property
    def sim_cores(self) -> float:
        return self.sim_cpu_s / self.cpu_wall_s

    @property
    def cpu_ms_per_msg(self) -> float:
        return 1000 * self.cpu_s / self.sent if self.sent else math.nan


@dataclass
class CampaignRun:
    label: str
    contacts: int
    latency_ms: int
    create_s: float
    validate: Step
    checks: int
    send: Measured


class Harness:
    """The stack shared by every scenario (simulator, API), and one campaign worker per scenario."""

    def __init__(self, bench: Bench, config: StackConfig, base: Stack):
        self.bench = bench
        self.config = config
        self.sim_pid = base.processes["whatsapp-sim"].popen.pid
        self.api = bench.cleanup.enter_context(api_client(base, timeout=60))
        self.sim = Simulator(bench.cleanup.enter_context(httpx.Client(base_url=base.whatsapp_url, timeout=60)))
        self.campaigns = Campaigns(self.api)
        self.next_number = 1
        self.warm_ups = 0
        self.sanity: list[str] = []

    def worker(self, rate: float) -> tuple[Stack, int]:
        """A campaign worker sending at `rate` per second, warmed up; (its stack, its pid)."""
        stack = self.bench.start(["campaign-worker"], self.config,
                                 env={"campaign-worker": {"FILAS_WHATSAPP_RATE_PER_SECOND": str(rate)}},
                                 label=f"campaign-worker-{rate:g}")
        self.sim.reset()
        self.warm_ups += 1
        warm_id, _ = self.campaigns.create(f"aquecimento {self.warm_ups}",
                                           phones(900_000 + 10 * self.warm_ups, WARM_UP_CONTACTS))
        self.campaigns.step(warm_id, "validar", 120)
        self.campaigns.step(warm_id, "enviar", 120)
        return stack, stack.processes["campaign-worker"].popen.pid

    def campaign(self, label: str, worker_pid: int, contacts: int, rate: float, latency_ms: int = 0) -> CampaignRun:
        """Create, validate and send a campaign of `contacts`, the simulator answering after `latency_ms`."""
        print(f"{label}: {contacts} contacts", flush=True)
        self.sim.reset(latency_ms)
        campaign_id, create_s = self.campaigns.create(label, phones(self.next_number, contacts))
        self.next_number += contacts
        validate = self.campaigns.step(campaign_id, "validar", 300 + contacts * (0.05 + latency_ms / 1000 / 10))
        checks = len(self.sim.view().checks)
        self.sim.reset(latency_ms)
        cpu_before, sim_before, machine = tree_cpu_seconds(worker_pid), tree_cpu_seconds(self.sim_pid), MachineCpu()
        send = self.campaigns.step(campaign_id, "enviar", 300 + 3 * contacts / min(rate, 100))
        cpu, sim_cpu = cpu_used(cpu_before, tree_cpu_seconds(worker_pid)), cpu_used(sim_before,
                                                                                    tree_cpu_seconds(self.sim_pid))
        busy, view = machine.busy_percent(), self.sim.view()
        campaign = self.campaigns.view(campaign_id)
        valid, counts = campaign["whatsapp"]["validos"], campaign["mensagens"]
        self.sanity.append(
            f"{label}: {valid} valid of {contacts} ({checks} number-check calls); send task {send.task['status']}, "
            f"messages by status {json.dumps(counts, ensure_ascii=False)}; {len(view.messages)} received by the "
            f"simulator ({view.distinct} distinct numbers)")
        at = view.at
        measured = Measured("campaign worker", counts.get("enviada", 0), send.job_s, cpu["all"], send.client_s,
                            view, sim_cpu["all"], busy, lead_s=at[0] - send.posted if at else math.nan,
                            tail_s=send.finished - at[-1] if at else math.nan)
        return CampaignRun(label, contacts, latency_ms, create_s, validate, checks, measured)

    def bare(self, label: str, sends: int, rate: float, latency_ms: int = 0,
             idle_pid: int | None = None) -> tuple[Measured, float | None]:
        """The bare sender, as a process of its own; and the CPU cores `idle_pid`'s tree used meanwhile."""
        print(f"{label}: {sends} sends", flush=True)
        command = [sys.executable, str(Path(__file__).with_name("_bare_campaign_sender.py")),
                   self.config.whatsapp_url, self.config.evolution_instance, "--sends", str(sends),
                   "--threads", str(CONCURRENCY), "--rate", str(rate), "--first", str(BARE_FIRST_NUMBER),
                   "--text", MESSAGE]
        env = {**os.environ, "BARE_SENDER_API_KEY": self.config.secrets.evolution_api_key}
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        try:
            if process.stdout.readline().strip() != "ready":
                raise RuntimeError("the bare sender did not start")
            self.sim.reset(latency_ms)
            idle_before = tree_cpu_seconds(idle_pid) if idle_pid else {}
            cpu_before, sim_before = tree_cpu_seconds(process.pid), tree_cpu_seconds(self.sim_pid)
            machine, began = MachineCpu(), time.monotonic()
            process.stdin.write("go\n")
            process.stdin.flush()
            line = process.stdout.readline()
            wall = time.monotonic() - began
            cpu, sim_cpu = cpu_used(cpu_before, tree_cpu_seconds(process.pid)), cpu_used(
                sim_before, tree_cpu_seconds(self.sim_pid))
            idle = cpu_used(idle_before, tree_cpu_seconds(idle_pid))["all"] / wall if idle_pid else None
            busy = machine.busy_percent()
            process.stdin.write("exit\n")
            process.stdin.close()
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
        if process.returncode != 0 or not line:
            raise RuntimeError(f"the bare sender failed with exit status {process.returncode}")
        result = json.loads(line)
        view = self.sim.view()
        errors = f" ({'; '.join(result['errors'])})" if result["errors"] else ""
        self.sanity.append(f"{label}: {result['sent']} sent, {result['refused']} refused{errors}; "
                           f"{len(view.messages)} received by the simulator "
                           f"({view.distinct} distinct numbers)")
        return Measured("bare sender", result["sent"], result["seconds"], cpu["all"], wall, view, sim_cpu["all"],
                        busy), idle


def fmt(value: float, digits: int = 1) -> str:
    return "-" if value != value else f"{value:,.{digits}f}"  # nan → "-"


def ratio(a: float, b: float) -> str:
    return "-" if not b or a != a or b != b else f"{a / b:.2f}x"


def main(bench: Bench, args: argparse.Namespace) -> None:
    redis_url, database_url = bench.databases()
    config = bench.config(redis_url, database_url)
    base = bench.start(["whatsapp-sim", "api"], config, migrate=True)
    harness = Harness(bench, config, base)
    campaigns: list[CampaignRun] = []
    worker_label = f"campaign worker (1 process x 4 threads, chunks of {CHUNK_SIZE}, {CONCURRENCY} in flight)"
    bare_label = f"bare httpx sender (1 process, {CONCURRENCY} threads)"
    busy_header = f"machine busy ({os.cpu_count()} vCPUs)"

    # 1. zero gateway latency, the rate limit out of reach
    worker, worker_pid = harness.worker(RATE_OUT_OF_REACH)
    fast = harness.campaign("zero latency", worker_pid, args.contacts, RATE_OUT_OF_REACH)
    campaigns.append(fast)
    fast_bare, _ = harness.bare("bare sender, zero latency", args.contacts, 0)
    bench.stop(worker)
    table(
        f"1. Sends per second per worker, gateway latency 0 ms, FILAS_WHATSAPP_RATE_PER_SECOND={RATE_OUT_OF_REACH} "
        f"(out of reach), {args.contacts:,} messages",
        ["sender", "msgs", "send s", "msg/s", "msg/s at the simulator", "CPU s", "cores", "CPU ms / msg",
         "simulator cores", busy_header],
        [*[[label, m.sent, fmt(m.seconds, 2), fmt(m.per_s, 0), fmt(m.sim.rate, 0), fmt(m.cpu_s), fmt(m.cores, 2),
            fmt(m.cpu_ms_per_msg, 2), fmt(m.sim_cores, 2), f"{m.machine_busy:.0f} %"]
           for label, m in ((worker_label, fast.send), (bare_label, fast_bare))],
         ["worker / bare", "", "", ratio(fast.send.per_s, fast_bare.per_s),
          ratio(fast.send.sim.rate, fast_bare.sim.rate), "", "", ratio(fast.send.cpu_ms_per_msg,
                                                                       fast_bare.cpu_ms_per_msg), "", ""]],
        left=[0],
        note=f"before chunking (the issue's figure, not measured here): {BEFORE_CHUNKING}.\n"
             "send s: worker POST /enviar -> finalizado_em (includes its start and finish), bare: first send -> last "
             "answer; msg/s at the simulator: (n - 1) / (first -> last accepted send); cores: CPU s of the process "
             "tree / the span it was measured over; simulator cores: the simulator's share of the ceiling",
    )

    # 2. a campaign at a configured 20 msg/s
    if args.paced_contacts:
        worker, worker_pid = harness.worker(PACED_RATE)
        paced = harness.campaign(f"{PACED_RATE} msg/s", worker_pid, args.paced_contacts, PACED_RATE)
        campaigns.append(paced)
        bench.stop(worker)
        send = paced.send

        def row(label: str, contacts: int, seconds: float, *details: str) -> list[str]:
            ideal = contacts / PACED_RATE
            return [label, fmt(ideal), fmt(contacts / (PACED_RATE * PACE_FRACTION)), fmt(seconds),
                    f"{seconds / ideal:.3f}", f"{100 * ideal / seconds:.1f} %", *details]

        rows = [row(f"{paced.contacts:,} (measured)", paced.contacts, send.seconds, fmt(send.lead_s, 2),
                    fmt(send.sim.at[-1] - send.sim.at[0] if send.sim.at else math.nan), fmt(send.tail_s, 2),
                    fmt(send.sim.rate, 2), fmt(send.sim.longest_gap, 2))]
        if paced.contacts != FULL_PACED_CONTACTS:
            full = FULL_PACED_CONTACTS
            rows += [row(f"{full:,} extrapolated (A)", full, send.seconds * full / paced.contacts,
                         "-", "-", "-", "-", "-"),
                     row(f"{full:,} extrapolated (B)", full, send.lead_s + (full - 1) / send.sim.rate + send.tail_s,
                         "-", "-", "-", "-", "-")]
        table(
            f"2. A campaign at FILAS_WHATSAPP_RATE_PER_SECOND={PACED_RATE}, one worker, gateway latency 0 ms",
            ["contacts", f"ideal s (n / {PACED_RATE})", f"pacer s (n / {PACED_RATE * PACE_FRACTION:g})", "send s",
             "measured / ideal", "efficiency", "start s", "sending s", "finish s", "msg/s at the simulator",
             "longest gap s"],
            rows,
            left=[0],
            note=f"send s: POST /enviar -> finalizado_em = start (POST -> first accepted send) + sending (first -> "
                 f"last) + finish (last send -> finalizado_em).\nmeasured / ideal near 1: the configured limit is the "
                 f"bottleneck. The pacer (filas_campaigns.pacing) spaces sends for {PACE_FRACTION:g} x the "
                 f"configured rate (pacer s), one every {1000 / (PACED_RATE * PACE_FRACTION):.1f} ms: a longer gap "
                 f"is time lost, e.g. between two parts (chunks of {CHUNK_SIZE})."
                 + ("" if args.full else f"\nExtrapolated (A): send s x {FULL_PACED_CONTACTS:,} / n, at the measured "
                    f"efficiency (scales start and finish too: pessimistic); (B): start + finish + "
                    f"{FULL_PACED_CONTACTS - 1:,} intervals at the measured msg/s at the simulator. --full sends the "
                    f"{FULL_PACED_CONTACTS:,}."),
        )

    # 3. CPU to sustain 80 msg/s against a gateway with latency
    if args.cpu_contacts:
        worker, worker_pid = harness.worker(CPU_RATE)
        paced = harness.campaign(f"{CPU_RATE} msg/s, latency {args.latency_ms} ms", worker_pid, args.cpu_contacts,
                                 CPU_RATE, args.latency_ms)
        campaigns.append(paced)
        bare_rate = CPU_RATE * PACE_FRACTION  # the pace the worker's pacer keeps for a configured CPU_RATE
        paced_bare, idle = harness.bare(f"bare sender at {bare_rate:g}/s, latency {args.latency_ms} ms",
                                        args.cpu_contacts, bare_rate, args.latency_ms, idle_pid=worker_pid)
        bench.stop(worker)
        send = paced.send
        table(
            f"3. CPU to sustain {CPU_RATE} msg/s (FILAS_WHATSAPP_RATE_PER_SECOND={CPU_RATE}), gateway latency "
            f"{args.latency_ms} ms, {args.cpu_contacts:,} messages",
            ["sender", "msgs", "send s", "msg/s", "msg/s at the simulator", "longest gap s", "CPU s", "cores",
             "goal (cores)", "CPU ms / msg", busy_header],
            [[worker_label, send.sent, fmt(send.seconds, 2), fmt(send.per_s),
              fmt(send.sim.rate), fmt(send.sim.longest_gap, 2), fmt(send.cpu_s), fmt(send.cores, 3),
              f"{CPU_GOAL_CORES}", fmt(send.cpu_ms_per_msg, 2), f"{send.machine_busy:.0f} %"],
             [f"{bare_label}, paced at {bare_rate:g}/s", paced_bare.sent, fmt(paced_bare.seconds, 2),
              fmt(paced_bare.per_s), fmt(paced_bare.sim.rate), fmt(paced_bare.sim.longest_gap, 2),
              fmt(paced_bare.cpu_s), fmt(paced_bare.cores, 3), "-", fmt(paced_bare.cpu_ms_per_msg, 2),
              f"{paced_bare.machine_busy:.0f} %"],
             ["campaign worker idle (while the bare sender ran)", "", "", "", "", "", "", fmt(idle, 3), "", "", ""],
             ["worker / bare", "", "", "", "", "", "", ratio(send.cores, paced_bare.cores), "",
              ratio(send.cpu_ms_per_msg, paced_bare.cpu_ms_per_msg), ""]],
            left=[0],
            note="cores: CPU s of the process tree (dramatiq's main and worker processes) / the span it was measured "
                 "over (POST /enviar -> seen finished, 0.2 s polling; bare: first send -> last answer).\n"
                 "msg/s: sent / send s (worker: POST /enviar -> finalizado_em). The bare sender keeps the pace the "
                 f"worker's pacer keeps for {CPU_RATE}/s ({CPU_RATE} x {PACE_FRACTION:g}), one send every "
                 f"{1000 / bare_rate:.1f} ms: a longest gap above that is time lost",
        )

    table(
        "Campaign steps through the API (create: the POST's own time; validate: POST -> finalizado_em)",
        ["campaign", "gateway latency ms", "contacts", "create s", "contacts created / s", "validate s",
         "numbers checked / s", "number-check calls"],
        [[c.label, c.latency_ms, c.contacts, fmt(c.create_s, 2), fmt(c.contacts / c.create_s, 0),
          fmt(c.validate.job_s, 2), fmt(c.contacts / c.validate.job_s, 0), c.checks] for c in campaigns],
        left=[0],
    )
    print("\nsanity:", *harness.sanity, sep="\n  ")


def time_limit(args: argparse.Namespace) -> float:
    """Generous: start-up, three workers and their warm-ups, then each scenario at a pessimistic pace."""
    fixed = 120 + 3 * 40
    zero_latency = args.contacts * (0.02 + 1 / 50 + 1 / 100)  # create + validate, worker at >= 50/s, bare
    paced = args.paced_contacts * (0.02 + 1.3 / PACED_RATE)
    cpu = args.cpu_contacts * (0.02 + args.latency_ms / 1000 / 10 + 2 * 1.3 / CPU_RATE)
    return fixed + zero_latency + paced + cpu


if __name__ == "__main__":
    arguments = parse_args()
    # step timeouts are generous: this overall limit is what bounds a run
    run(lambda bench: main(bench, arguments), "campaign_send", time_limit=time_limit(arguments))
