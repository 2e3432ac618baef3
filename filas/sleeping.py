"""A sleep that an event cuts short.

Not threading.Event.wait(timeout): under libfaketime (the tests that move the clock to a follow-up's morning)
a timed wait is computed on the faked monotonic clock and waited on the real one, so it never returns. Short
slices of time.sleep, checking the event between them, behave the same with a real or a faked clock."""

import threading
import time

SLICE_SECONDS = 0.05


def sleep_unless(event: threading.Event, seconds: float) -> bool:
    """Sleep `seconds`, or until `event` is set (then True, at once or within a slice)."""
    deadline = time.monotonic() + seconds
    while not event.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(left, SLICE_SECONDS))
    return True
