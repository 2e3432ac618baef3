"""Only the scheduler holding a Redis lock enqueues ticks.

periodiq keeps no state and takes no lock: two replicas (a rolling update, a mis-set replica count)
would enqueue every tick twice. A standby waits for the lock; the leader renews it and exits at once
if it ever loses it, so that at most one process schedules at any time."""

import logging
import os
import signal
import threading
import time
from collections.abc import Callable

import redis
from redis.lock import Lock

logger = logging.getLogger(__name__)

LOCK_NAME = "filas:scheduler:leader"


def become_leader(client: redis.Redis, ttl_seconds: int, on_attempt: Callable[[], None] = lambda: None) -> Lock:
    """Block until this process holds the scheduler lock (calling `on_attempt` at each try, every second);
    keep it renewed; release it on SIGTERM."""
    lock = client.lock(LOCK_NAME, timeout=ttl_seconds, thread_local=False)
    logger.info("waiting for the scheduler lock (%s)", LOCK_NAME)
    while not lock.acquire(blocking=False):
        on_attempt()
        time.sleep(1)
    logger.info("holding the scheduler lock: this process schedules")
    threading.Thread(target=_renew_forever, args=(lock, ttl_seconds / 3), daemon=True,
                     name="scheduler-lock").start()
    signal.signal(signal.SIGTERM, lambda *_: _step_down(lock))
    return lock


def _renew_forever(lock: Lock, interval: float) -> None:
    while True:
        time.sleep(interval)
        if not _renew(lock):
            logger.critical("lost the scheduler lock; exiting so that only one scheduler runs")
            os._exit(1)


def _renew(lock: Lock) -> bool:
    try:
        lock.reacquire()
        return True
    except redis.exceptions.LockNotOwnedError:
        # The key is gone (Redis restarted or was flushed) or another scheduler holds it: only the
        # first case lets this process stay the leader.
        return bool(lock.acquire(blocking=False, token=lock.local.token))
    except redis.RedisError:
        return False


def _step_down(lock: Lock) -> None:
    """SIGTERM: hand over at once instead of making the standby wait for the lock to expire."""
    try:
        lock.release()
    except (redis.RedisError, redis.exceptions.LockError):
        pass
    raise SystemExit(0)
