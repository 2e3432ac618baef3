"""The scheduler's liveness, GET /livez on its metrics port (filas.liveness_http): 200 while its loop runs.

The loop beats: a standby at each attempt to take the leader lock (every second), the leader each time
periodiq's Scheduler wakes to send what is due (at least once a minute). A scheduler whose loop stopped (stuck
on a Redis call, a dead main thread, a wedged alarm) stops beating, and /livez answers 503 once the last beat
is older than FILAS_SCHEDULER_LIVENESS_SECONDS.
"""

import time

from filas.liveness_http import Verdict

_last_beat = time.monotonic()  # the process start counts as a beat: booting is not being stuck


def beat() -> None:
    global _last_beat
    _last_beat = time.monotonic()


def verdict(limit_seconds: float) -> Verdict:
    age = time.monotonic() - _last_beat
    if age > limit_seconds:
        return Verdict(False, f"the scheduler loop has not run for {age:.0f} s (limit {limit_seconds:g} s)")
    return Verdict(True, f"scheduling: the loop ran {age:.0f} s ago")
