"""The baseline of bench/campaign_send.py: bare HTTP sends to the WhatsApp (Evolution API) simulator.

The same HTTP calls the campaign worker makes to send a campaign, and nothing else: one process, one pooled
httpx.Client (as the worker's EvolutionGateway has), `--threads` sends in flight (the worker's
FILAS_CAMPAIGN_SEND_CONCURRENCY), POST /message/sendText/<instance> {"number": jid, "text"} per message.
No database, no Redis, no Dramatiq. With --rate the sends are paced as the worker's pacer does (each send
takes the next free slot of an even schedule, one interval apart), in the process instead of in Redis.

It talks with the benchmark over stdin/stdout so that the benchmark measures the sending alone, on the live
process: after a few warm-up sends it prints "ready", sends when it reads a line, prints one JSON line
({"sent", "refused", "errors", "seconds"}), and exits when it reads another.

    BARE_SENDER_API_KEY=... python bench/_bare_campaign_sender.py URL INSTANCE --sends 3000 --threads 8 [--rate 80]
"""

import argparse
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

API_KEY_ENV = "BARE_SENDER_API_KEY"
WARM_UP_SENDS = 5


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("instance")
    parser.add_argument("--sends", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rate", type=float, default=0, help="sends per second at most (0: as fast as it goes)")
    parser.add_argument("--first", type=int, default=500_000, help="first number (see jid_of)")
    parser.add_argument("--text", default="Olá! Sua consulta está disponível.")
    parser.add_argument("--timeout", type=float, default=15.0)
    args = parser.parse_args()
    client = httpx.Client(base_url=args.url, headers={"apikey": os.environ[API_KEY_ENV], "User-Agent": "bare-sender"},
                          timeout=args.timeout)
    route = f"message/sendText/{args.instance}"
    outcomes = {"sent": 0, "refused": 0, "errors": []}
    lock = threading.Lock()
    pace = Pacer(args.rate)

    def send(number: int) -> None:
        pace.wait_for_slot()
        try:
            response = client.post(route, json={"number": jid_of(number), "text": args.text})
            error = None if response.status_code == 201 else f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as failure:
            error = f"{type(failure).__name__}: {failure}"
        with lock:
            if error is None:
                outcomes["sent"] += 1
            else:
                outcomes["refused"] += 1
                if len(outcomes["errors"]) < 5:
                    outcomes["errors"].append(error)

    with ThreadPoolExecutor(max_workers=args.threads, thread_name_prefix="bare-send") as pool:
        list(pool.map(send, range(args.first - WARM_UP_SENDS, args.first)))  # connections, code paths
        outcomes.update(sent=0, refused=0, errors=[])
        print("ready", flush=True)
        sys.stdin.readline()
        pace.restart()
        started = time.monotonic()
        list(pool.map(send, range(args.first, args.first + args.sends)))
        seconds = time.monotonic() - started
    print(json.dumps({**outcomes, "seconds": seconds}), flush=True)
    sys.stdin.readline()
    client.close()


def jid_of(number: int) -> str:
    """The jid the simulator gives the mobile (85) 9NNNN-NNNN: what the worker sends to after validation."""
    return f"55859{9000 + number // 10000:04d}{number % 10000:04d}@s.whatsapp.net"


class Pacer:
    """At most `rate` sends a second, one interval apart, across the threads (the worker's pacing, in-process)."""

    def __init__(self, rate: float):
        self.interval = 1 / rate if rate > 0 else 0.0
        self.lock = threading.Lock()
        self.next_free = 0.0

    def restart(self) -> None:
        with self.lock:
            self.next_free = 0.0

    def wait_for_slot(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            slot = max(now, self.next_free)
            self.next_free = slot + self.interval
        time.sleep(slot - now)


if __name__ == "__main__":
    main()
