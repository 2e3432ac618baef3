"""The one way tests wait: poll a condition until it holds, or fail saying what did not happen.

Never sleep-and-hope: a test waits for the state it needs, bounded by a timeout that only a broken
system reaches."""

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

POLL_SECONDS = 0.2


def wait_for(check: Callable[[], T], timeout: float, what: str, details: Callable[[], object] = str) -> T:
    """Poll `check` until it returns something true, and return that; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"{what} did not happen within {timeout} s. {details()}")
