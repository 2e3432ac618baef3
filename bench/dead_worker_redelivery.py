"""Time from kill -9 of a campaign worker holding a started job to that job finishing on a second worker.

The scenario of tests/integration/test_worker_recovery.py, with stack.py's processes: the WhatsApp
simulator, the API and campaign workers (1 process x 4 threads each). Per sample:

1. worker A starts; a one-contact campaign is validated through the API while the simulator answers number
   checks after 60 s, so A's job hangs in `started`;
2. worker B starts and polls the (empty) queues: a standby replica, as in a deployment with two;
3. A's process group gets SIGKILL (OOM, node loss); the simulator answers at once again;
4. the job's state is read through the API every 0.1 s until it is finished (by B, after Dramatiq's
   dead-worker recovery put it back on the queue).

Redelivery rests on two broker settings: a worker silent for heartbeat_timeout is dead, and each broker
command has maintenance_chance in a million to run the recovery for its queue. Three samples with the
project's settings (filas/settings.py), then one with Dramatiq's defaults (every process started with
FILAS_BROKER_HEARTBEAT_TIMEOUT_MS=60000, FILAS_BROKER_MAINTENANCE_CHANCE=1000), capped (prints "> cap").
Beside each sample: the rate of broker commands Redis saw while waiting (EVALSHA, all of B's consumers) and
the mean redelivery time that rate predicts, heartbeat_timeout + 1 / (rate on the job's queue x chance).

    .venv/bin/python bench/dead_worker_redelivery.py [--samples 3] [--cap 120] [--defaults-cap 240]
"""

import argparse
import dataclasses
import datetime as dt
import signal
import time

import httpx
import redis
from _support import Bench, api_client, free_port, percentile, run, table, wait_for

from filas.settings import Settings

QUEUE = "campaigns"
CONSUMERS_PER_WORKER = 4  # campaigns, campaigns.DQ, maintenance, maintenance.DQ: one polling thread each
HANG_MS = 60_000
DRAMATIQ_DEFAULTS = {"FILAS_BROKER_HEARTBEAT_TIMEOUT_MS": "60000", "FILAS_BROKER_MAINTENANCE_CHANCE": "1000"}
# A's gateway call hangs on purpose: it must not time out (and be retried) before the kill.
COMMON_ENV = {"FILAS_GATEWAY_TIMEOUT_SECONDS": "120"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=3, help="samples with the project's settings (default 3)")
    parser.add_argument("--cap", type=float, default=120, help="cap per project-settings sample, s (default 120)")
    parser.add_argument("--defaults-cap", type=float, default=240,
                        help="cap of the Dramatiq-defaults sample, s after the kill (default 240; 0 skips it)")
    return parser.parse_args()


@dataclasses.dataclass
class Sample:
    settings: str
    redelivered_s: float | None  # kill -> B's iniciado_em
    finished_s: float | None  # kill -> finalizado_em
    cap: float
    commands_per_s: float
    expected_s: float
    note: str = ""


class Scenario:
    def __init__(self, bench: Bench, sim_config, extra_env: dict[str, str], label: str):
        self.bench = bench
        self.label = label
        self.config = dataclasses.replace(sim_config, extra_env={**COMMON_ENV, **extra_env}, api_port=free_port())
        self.redis = redis.Redis.from_url(self.config.redis_url, decode_responses=True)
        bench.cleanup.callback(self.redis.close)
        self.api_stack = bench.start(["api"], self.config, label=f"api-{label}")
        self.api = bench.cleanup.enter_context(api_client(self.api_stack))
        self.sim = bench.cleanup.enter_context(httpx.Client(base_url=sim_config.whatsapp_url, timeout=10))
        timeout = int(self.config.extra_env.get("FILAS_BROKER_HEARTBEAT_TIMEOUT_MS",
                                                Settings.model_fields["broker_heartbeat_timeout_ms"].default))
        chance = int(self.config.extra_env.get("FILAS_BROKER_MAINTENANCE_CHANCE",
                                               Settings.model_fields["broker_maintenance_chance"].default))
        self.heartbeat_timeout_s, self.chance = timeout / 1000, chance
        self._numbers = iter(range(1, 10_000))

    def worker(self, name: str):
        config = dataclasses.replace(self.config, campaign_metrics_port=free_port())
        return self.bench.start(["campaign-worker"], config, label=f"worker-{name}")

    def sample(self, index: int, cap: float) -> Sample:
        print(f"  {self.label} sample {index}: starting worker A", flush=True)
        worker_a = self.worker(f"{self.label}-{index}-A")
        self.sim.post("/_sim/config", json={"latency_ms": HANG_MS}).raise_for_status()
        task_id = self._start_validation()
        wait_for(lambda: self._task(task_id)["status"] == "started", 60, "worker A starting the job", 0.1)
        first_start = self._task(task_id)["iniciado_em"]
        holder = self._holder(task_id)

        known = set(self.redis.zrange("dramatiq:__heartbeats__", 0, -1))
        worker_b = self.worker(f"{self.label}-{index}-B")
        wait_for(lambda: set(self.redis.zrange("dramatiq:__heartbeats__", 0, -1)) - known - {holder}, 60,
                 "worker B polling the broker", 0.1)
        time.sleep(2)  # every consumer of B is up and polling

        evalsha_before = self._evalsha_calls()
        killed_at = dt.datetime.now(dt.UTC)
        killed = time.monotonic()
        worker_a.processes["campaign-worker"].signal_group(signal.SIGKILL)
        print(f"  {self.label} sample {index}: worker A (broker {holder[:8]}) killed with SIGKILL; waiting "
              f"up to {cap:.0f} s", flush=True)
        self.sim.post("/_sim/config", json={"latency_ms": 0}).raise_for_status()
        self.bench.stop(worker_a)

        redelivered = finished = None
        deadline = killed + cap
        while time.monotonic() < deadline:
            task = self._task(task_id)
            if task["iniciado_em"] != first_start and redelivered is None:
                redelivered = (dt.datetime.fromisoformat(task["iniciado_em"]) - killed_at).total_seconds()
            if task["status"] in ("finished", "failed", "cancelled"):
                finished = (dt.datetime.fromisoformat(task["finalizado_em"]) - killed_at).total_seconds()
                note = "" if task["status"] == "finished" else f"ended {task['status']}: {task.get('erro')}"
                break
            time.sleep(0.1)
        else:
            still_held = self.redis.sismember(f"dramatiq:__acks__.{holder}.{QUEUE}", self._redis_id(task_id))
            note = "still in the dead worker's ack set" if still_held else "not in the dead worker's ack set"
        waited = time.monotonic() - killed
        rate = (self._evalsha_calls() - evalsha_before) / waited
        self.bench.stop(worker_b)
        per_queue = rate / CONSUMERS_PER_WORKER
        expected = self.heartbeat_timeout_s + (1e6 / self.chance / per_queue if per_queue else float("inf"))
        return Sample(self.label, redelivered, finished, cap, rate, expected, note)

    def _start_validation(self) -> str:
        number = next(self._numbers)
        reply = self.api.post("/api/campanhas", json={
            "nome": f"recuperação {self.label} {number}", "mensagem": "Olá!",
            "contatos": [{"nome": "Paciente", "telefone": f"(85) 99876-{number:04d}"}]})
        reply.raise_for_status()
        reply = self.api.post(f"/api/campanhas/{reply.json()['campanha']['id']}/validar")
        reply.raise_for_status()
        return reply.json()["task_id"]

    def _task(self, task_id: str) -> dict:
        return self.api.get(f"/api/task/{task_id}/status").json()

    def _redis_id(self, task_id: str) -> str | None:
        """The broker's id for the message (a new one per enqueue), found in the queue's bodies."""
        import json

        for redis_id, body in self.redis.hgetall(f"dramatiq:{QUEUE}.msgs").items():
            if json.loads(body).get("message_id") == task_id:
                return redis_id
        return None

    def _holder(self, task_id: str) -> str:
        """The broker id of the worker whose ack set holds the job."""
        redis_id = wait_for(lambda: self._redis_id(task_id), 10, "the job's message in Redis", 0.1)

        def find() -> str | None:
            for key in self.redis.scan_iter(match=f"dramatiq:__acks__.*.{QUEUE}"):
                if self.redis.sismember(key, redis_id):
                    return key.removeprefix("dramatiq:__acks__.").removesuffix(f".{QUEUE}")
            return None

        return wait_for(find, 10, "the worker holding the job", 0.1)

    def _evalsha_calls(self) -> int:
        return self.redis.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)


def main(bench: Bench, args: argparse.Namespace) -> None:
    redis_url, database_url = bench.databases()
    base = bench.config(redis_url, database_url)
    bench.start(["whatsapp-sim"], base, migrate=True, label="whatsapp-sim")
    project = Scenario(bench, base, {}, "project")
    samples = [project.sample(i + 1, args.cap) for i in range(args.samples)]
    bench.stop(project.api_stack)
    defaults = None
    if args.defaults_cap:
        defaults = Scenario(bench, base, DRAMATIQ_DEFAULTS, "dramatiq-defaults")
        samples.append(defaults.sample(1, args.defaults_cap))

    def settings_of(scenario: Scenario) -> str:
        return f"{scenario.heartbeat_timeout_s * 1000:.0f} ms / {scenario.chance}"

    labels = {"project": f"project ({settings_of(project)})"}
    if defaults:
        labels["dramatiq-defaults"] = f"Dramatiq defaults ({settings_of(defaults)})"
    rows = []
    for n, sample in enumerate(samples, 1):
        rows.append([
            n, labels[sample.settings],
            _seconds(sample.redelivered_s, sample.cap), _seconds(sample.finished_s, sample.cap),
            f"{sample.commands_per_s:.1f}", f"~{sample.expected_s:.0f}", sample.note or "-",
        ])
    table(
        "kill -9 of a campaign worker holding a started job -> job finished on a standby worker",
        ["#", "broker settings (heartbeat timeout / maintenance chance per 1e6)", "redelivered s", "finished s",
         "broker cmds/s", "model mean s", "note"],
        rows,
        note="redelivered: kill -> the second worker's iniciado_em; finished: kill -> finalizado_em (job state). "
             f"broker cmds/s: EVALSHA calls Redis served while waiting (the standby worker's "
             f"{CONSUMERS_PER_WORKER} polling consumers); model mean: heartbeat timeout + 1 / (cmds/s / "
             f"{CONSUMERS_PER_WORKER} x chance / 1e6), the expected wait with one idle replica.",
    )
    finished = sorted(s.finished_s for s in samples if s.settings == "project" and s.finished_s is not None)
    if finished:
        print(f"\nproject settings: {len(finished)} of {args.samples} redelivered and finished; "
              f"min {finished[0]:.1f} s, median {percentile(finished, 50):.1f} s, max {finished[-1]:.1f} s")


def _seconds(value: float | None, cap: float) -> str:
    return f"> {cap:.0f} (cap)" if value is None else f"{value:.1f}"


if __name__ == "__main__":
    arguments = parse_args()
    limit = arguments.samples * (arguments.cap + 30) + arguments.defaults_cap + 90
    run(lambda bench: main(bench, arguments), "dead_worker_redelivery", time_limit=limit)
