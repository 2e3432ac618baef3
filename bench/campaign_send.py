"""Messages sent per second by one campaign-worker process (stack.py's: 1 process x 4 threads) against the
WhatsApp (Evolution API) simulator, through the API: create a campaign of N contacts, validate, send.

Starts Redis, PostgreSQL, the WhatsApp simulator, the API and the campaign worker (stack.py). Each step is
followed through GET /api/task/<task_id>/status (polled every 0.2 s); durations come from the job state
timestamps the API reports (iniciado_em -> finalizado_em), with the client's view (POST -> seen final)
beside them. A campaign is sent by one actor, contact after contact, so one campaign uses one worker
thread; a second scenario sends several campaigns at once to use the worker's other threads.
The simulator first answers at once (no gateway latency: Filas's own costs), then with a latency per call
(--latency-ms), closer to a real gateway, where one campaign's contact-after-contact sending is latency-bound.

    .venv/bin/python bench/campaign_send.py [--contacts 500] [--parallel 4] [--latency-ms 50]
"""

import argparse
import datetime as dt
import os
import time

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

ENDED = ("finished", "failed", "cancelled")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=500, help="contacts in the campaign (default 500)")
    parser.add_argument("--parallel", type=int, default=4,
                        help="campaigns sent at once in the parallel scenarios, splitting the contacts (default 4; "
                             "0 skips them)")
    parser.add_argument("--latency-ms", type=int, default=50,
                        help="gateway latency of the slow-gateway scenarios (default 50; 0 skips them)")
    parser.add_argument("--latency-contacts", type=int, default=200,
                        help="contacts in the slow-gateway scenarios (default 200)")
    return parser.parse_args()


def phones(first: int, count: int) -> list[str]:
    """Distinct valid Brazilian mobiles: (85) 99000-0001, ..."""
    return [f"(85) 9{9000 + n // 10000:04d}-{n % 10000:04d}" for n in range(first, first + count)]


class Campaigns:
    def __init__(self, api: httpx.Client):
        self.api = api

    def create(self, name: str, numbers: list[str]) -> tuple[int, float]:
        body = {"nome": name, "mensagem": "Olá! Sua consulta está disponível.",
                "contatos": [{"nome": f"Paciente {i}", "telefone": t} for i, t in enumerate(numbers, 1)]}
        began = time.perf_counter()
        reply = self.api.post("/api/campanhas", json=body)
        took = time.perf_counter() - began
        if reply.status_code != 201:
            raise RuntimeError(f"campaign refused: {reply.status_code} {reply.text[:500]}")
        return reply.json()["campanha"]["id"], took

    def start(self, campaign_id: int, action: str) -> str:
        reply = self.api.post(f"/api/campanhas/{campaign_id}/{action}")
        if reply.status_code != 202:
            raise RuntimeError(f"{action} refused: {reply.status_code} {reply.text[:500]}")
        return reply.json()["task_id"]

    def wait(self, task_ids: list[str], timeout: float) -> dict[str, dict]:
        last: dict[str, dict] = {}

        def all_ended() -> bool:
            for task_id in task_ids:
                if last.get(task_id, {}).get("status") not in ENDED:
                    last[task_id] = self.api.get(f"/api/task/{task_id}/status").json()
            return all(last[t].get("status") in ENDED for t in task_ids)

        wait_for(all_ended, timeout, f"{len(task_ids)} task(s) ending", interval=0.2)
        return last

    def step(self, campaign_ids: list[int], action: str, timeout: float) -> tuple[list[dict], float]:
        """Start `action` on every campaign at once; the final task states and the client's wall time."""
        began = time.monotonic()
        task_ids = [self.start(campaign_id, action) for campaign_id in campaign_ids]
        final = self.wait(task_ids, timeout)
        return [final[t] for t in task_ids], time.monotonic() - began


def span(tasks: list[dict]) -> float:
    """First start -> last finish, from the job state."""
    began = min(dt.datetime.fromisoformat(t["iniciado_em"]) for t in tasks)
    ended = max(dt.datetime.fromisoformat(t["finalizado_em"]) for t in tasks)
    return (ended - began).total_seconds()


def main(bench: Bench, args: argparse.Namespace) -> None:
    redis_url, database_url = bench.databases()
    config = bench.config(redis_url, database_url)
    stack = bench.start(["whatsapp-sim", "api", "campaign-worker"], config, migrate=True)
    worker_pid = stack.processes["campaign-worker"].popen.pid
    api = bench.cleanup.enter_context(api_client(stack, timeout=60))
    sim = bench.cleanup.enter_context(httpx.Client(base_url=stack.whatsapp_url, timeout=30))
    campaigns = Campaigns(api)

    # warm-up: a small campaign through every step (connections, pools, code paths)
    warm_id, _ = campaigns.create("aquecimento", phones(90_000, 5))
    campaigns.step([warm_id], "validar", 60)
    campaigns.step([warm_id], "enviar", 60)
    sim.post("/_sim/reset").raise_for_status()

    scenarios = [("1 campaign", 1, args.contacts, 0)]
    if args.parallel > 1:
        scenarios.append((f"{args.parallel} campaigns at once", args.parallel, args.contacts, 0))
    if args.latency_ms:
        slow = f", gateway {args.latency_ms} ms"
        scenarios.append((f"1 campaign{slow}", 1, args.latency_contacts, args.latency_ms))
        if args.parallel > 1:
            scenarios.append((f"{args.parallel} campaigns at once{slow}", args.parallel, args.latency_contacts,
                              args.latency_ms))
    rows, sanity = [], []
    first_number = 1
    for label, count, contacts, latency_ms in scenarios:
        print(f"{label}: {contacts} contacts", flush=True)
        sim.post("/_sim/config", json={"latency_ms": latency_ms}).raise_for_status()
        per_campaign = contacts // count
        created = [campaigns.create(f"{label} #{i + 1}", phones(first_number + i * per_campaign, per_campaign))
                   for i in range(count)]
        first_number += count * per_campaign
        ids = [campaign_id for campaign_id, _ in created]
        create_s = sum(took for _, took in created)

        validated, validate_wall = campaigns.step(ids, "validar", 900)
        cpu_before, machine = tree_cpu_seconds(worker_pid), MachineCpu()
        sent, send_wall = campaigns.step(ids, "enviar", 900)
        worker_cpu, busy = cpu_used(cpu_before, tree_cpu_seconds(worker_pid)), machine.busy_percent()

        total = per_campaign * count
        valid = sum(t["resultado"]["validos"] for t in validated if t["status"] == "finished")
        delivered = sum(t["resultado"].get("enviada", 0) for t in sent if t["status"] == "finished")
        statuses = sorted({t["status"] for t in validated + sent})
        messages = sim.get("/_sim/messages").json()
        checks = sim.get("/_sim/checks").json()
        sim.post("/_sim/reset").raise_for_status()
        rows += [
            [label, "create (POST /api/campanhas)", total, f"{create_s:.2f}", "-", "-",
             f"{total / create_s:.0f}", "-"],
            [label, "validate", total, f"{span(validated):.2f}", f"{validate_wall:.2f}", "-",
             f"{total / span(validated):.0f}", "-"],
            [label, "send", delivered, f"{span(sent):.2f}", f"{send_wall:.2f}", f"{worker_cpu['all']:.1f}",
             f"{delivered / span(sent):.0f}", f"{busy:.0f} %"],
        ]
        sanity.append(f"{label}: task states {', '.join(statuses)}; {valid} valid of {total} "
                      f"({len(checks)} number-check calls, {sum(map(len, checks))} numbers asked); "
                      f"{delivered} sent per the tasks, {len(messages)} received by the simulator "
                      f"({len({m['e164'] for m in messages})} distinct numbers)")

    table(
        "Campaign steps, one campaign-worker (1 process x 4 threads), WhatsApp simulator",
        ["scenario", "step", "contacts / msgs", "job s", "client s", "worker CPU s", "per s",
         f"machine busy ({os.cpu_count()} vCPUs)"],
        rows,
        note="job s: first iniciado_em -> last finalizado_em (job state); client s: POST -> seen ended "
             "(0.2 s polling); create: the API call's own time",
    )
    print("\nsanity:", *sanity, sep="\n  ")


if __name__ == "__main__":
    arguments = parse_args()
    slow = arguments.latency_contacts * (arguments.latency_ms / 1000 + 0.02) if arguments.latency_ms else 0
    # step timeouts are generous: this overall limit is what bounds a run
    run(lambda bench: main(bench, arguments), "campaign_send",
        time_limit=120 + 0.1 * arguments.contacts + 1.5 * slow)
