"""Sender process of tests/integration/test_send_pacing.py (not a test): `threads` threads send as one number
through a SendPacer for `seconds`, printing each departure's wall-clock time, as a campaign worker's sending
threads do.

    python _paced_sender.py REDIS_URL SENDER RATE THREADS SECONDS
"""

import sys
import threading
import time

import redis

from filas_campaigns.pacing import SendPacer


def main(redis_url: str, sender: str, rate: float, threads: int, seconds: float) -> None:
    pacer = SendPacer(redis.Redis.from_url(redis_url), sender, rate)
    deadline = time.time() + seconds
    printing = threading.Lock()

    def send() -> None:
        while pacer.wait_for_slot(lambda: time.time() > deadline):
            with printing:
                print(f"{time.time():.6f}", flush=True)

    workers = [threading.Thread(target=send) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
