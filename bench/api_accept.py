"""Booking requests accepted per second through the real API (gunicorn, as stack.py starts it), no workers.

Accepting = validate, check the load is free, INSERT + COMMIT the integration row in PostgreSQL, enqueue
the Dramatiq message and record its job state in Redis, answer 202. N client threads (httpx, keep-alive)
post bookings, each for a distinct lote_id, for a fixed time per level; then GET status-job for random
accepted job ids. Two API shapes: the stack's (`make run`, tests: 1 gunicorn worker x 4 threads) and
gunicorn_conf.py's default (2 workers x 4 threads, what an image runs unless told otherwise).

Client and server share this machine's CPUs: the client's own cost is in the figures.

    .venv/bin/python bench/api_accept.py [--clients 1,4,16] [--seconds 8] [--get-seconds 4]
"""

import argparse
import datetime as dt
import itertools
import random
import threading
import time
from collections import Counter

import redis
from _support import Bench, api_client, ms, percentile, run, table

API_SHAPES = (
    ("1 worker x 4 threads (stack.py)", {"FILAS_API_WORKERS": "1", "FILAS_API_THREADS": "4"}),
    ("2 workers x 4 threads (gunicorn_conf default)", {"FILAS_API_WORKERS": "2", "FILAS_API_THREADS": "4"}),
)
TOMORROW = (dt.date.today() + dt.timedelta(days=1)).isoformat()
WARM_UP_SECONDS = 2.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="1,4,16", help="concurrency levels, comma-separated (default 1,4,16)")
    parser.add_argument("--seconds", type=float, default=8.0, help="POST time per level (default 8)")
    parser.add_argument("--get-seconds", type=float, default=4.0, help="GET status-job time per level (default 4)")
    args = parser.parse_args()
    args.levels = [int(n) for n in args.clients.split(",") if n.strip()]
    return args


class Load:
    """N threads, each with its own keep-alive client, calling `request(client)` until the time is up."""

    def __init__(self, stack, clients: int, seconds: float, request):
        self.stack, self.clients, self.seconds, self.request = stack, clients, seconds, request
        self.latencies: list[float] = []
        self.statuses: Counter[str] = Counter()
        self.results: list = []
        self.elapsed = 0.0
        self._lock = threading.Lock()

    def run(self) -> "Load":
        stop_at = time.monotonic() + self.seconds
        threads = [threading.Thread(target=self._client, args=(stop_at,), daemon=True) for _ in range(self.clients)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.elapsed = time.monotonic() - started
        return self

    def _client(self, stop_at: float) -> None:
        latencies, statuses, results = [], Counter(), []
        with api_client(self.stack, timeout=30) as client:
            while time.monotonic() < stop_at:
                began = time.perf_counter()
                try:
                    response = self.request(client)
                except Exception as error:
                    statuses[type(error).__name__] += 1
                    continue
                latencies.append(time.perf_counter() - began)
                statuses[str(response.status_code)] += 1
                results.append(response)
        with self._lock:
            self.latencies += latencies
            self.statuses += statuses
            self.results += results

    def ok(self, status: int) -> int:
        return self.statuses[str(status)]

    def others(self, status: int) -> str:
        rest = {code: n for code, n in self.statuses.items() if code != str(status)}
        return ", ".join(f"{code}: {n}" for code, n in sorted(rest.items())) or "-"


def main(bench: Bench, args: argparse.Namespace) -> None:
    redis_url, database_url = bench.databases()
    loads = itertools.count(1)
    rows_post, rows_get = [], []
    accepted_total = 0
    with redis.Redis.from_url(redis_url) as broker_redis:
        for index, (shape, env) in enumerate(API_SHAPES):
            config = bench.config(redis_url, database_url)
            stack = bench.start(["api"], config, migrate=index == 0, env={"api": env}, label=f"api-{index + 1}")
            print(f"api ({shape}) ready at {stack.api_url}", flush=True)

            def book(client, shape_index=index):
                body = {"lote_id": f"BENCH-{shape_index}-{next(loads)}", "data_agendamento": TOMORROW,
                        "hora_agendamento": "09:00", "transportadora": "Transportes Exemplo", "tipo_veiculo": "truck"}
                return client.post("/portal/api/solicitar-agendamento-async", json=body)

            warm_up = Load(stack, 4, WARM_UP_SECONDS, book).run()  # pools and code paths warmed; not in the tables
            accepted_total += warm_up.ok(202)
            job_ids: list[str] = []
            for clients in args.levels:
                load = Load(stack, clients, args.seconds, book).run()
                job_ids += [r.json()["job_id"] for r in load.results if r.status_code == 202]
                accepted_total += load.ok(202)
                rows_post.append(_row(shape, clients, load, 202))
            print(f"  POST done: {len(job_ids)} accepted", flush=True)

            def status(client, ids=job_ids):
                return client.get(f"/portal/api/status-job/{random.choice(ids)}")

            for clients in args.levels:
                rows_get.append(_row(shape, clients, Load(stack, clients, args.get_seconds, status).run(), 200))
            bench.stop(stack)
        queued = broker_redis.llen("dramatiq:atacadao")
        bodies = broker_redis.hlen("dramatiq:atacadao.msgs")

    headers = ["API", "clients", "ok answers", "per s", "p50 ms", "p95 ms", "p99 ms", "max ms", "other answers"]
    table(f"POST /portal/api/solicitar-agendamento-async (202 Accepted), {args.seconds:g} s per level, "
          "distinct lote_id, no workers", headers, rows_post)
    table(f"GET /portal/api/status-job/<job_id> (200), {args.get_seconds:g} s per level, random accepted job",
          headers, rows_get)
    print(f"\nsanity: {accepted_total} bookings answered 202 (warm-up included); Redis holds {queued} ready "
          f"messages and {bodies} message bodies on queue atacadao (no worker ran: all three should be equal)")


def _row(shape: str, clients: int, load: Load, status: int) -> list:
    done = load.ok(status)
    return [shape, clients, done, f"{done / load.elapsed:.0f}", ms(percentile(load.latencies, 50)),
            ms(percentile(load.latencies, 95)), ms(percentile(load.latencies, 99)),
            ms(max(load.latencies, default=float("nan"))), load.others(status)]


if __name__ == "__main__":
    arguments = parse_args()
    per_shape = WARM_UP_SECONDS + len(arguments.levels) * (arguments.seconds + arguments.get_seconds)
    run(lambda bench: main(bench, arguments), "api_accept", time_limit=len(API_SHAPES) * (per_shape + 30) + 60)
