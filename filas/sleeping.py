"""Sleeps that another thread cuts short.

Not threading.Event.wait(timeout): under libfaketime (the tests that move the clock to a follow-up's morning)
a timed wait is computed on the faked monotonic clock and waited on the real one, so it never returns. Short
slices of time.sleep, checking the event between them, behave the same with a real or a faked clock."""

import contextlib
import select
import socket
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


class Wakeup:
    """A threading.Event for a hot path: `wait(timeout)` returns as soon as another thread calls `set()`.

    Polls a socket pair rather than a lock's timed acquire: under libfaketime a lock's timed wait never returns
    (as above), and sleep_unless's slices would let the waker wait up to a slice (a worker's consumer waiting
    for a free thread: 50 ms per job). poll(), not select(): no limit on the descriptor's number. Meant for one
    waiting thread (the poll object is not shared safely); the sockets close with the object."""

    def __init__(self) -> None:
        self._receiver, self._sender = socket.socketpair()
        self._receiver.setblocking(False)
        self._sender.setblocking(False)
        self._poll = select.poll()
        self._poll.register(self._receiver, select.POLLIN)

    def set(self) -> None:
        with contextlib.suppress(BlockingIOError):  # its buffer full: it is set many times over
            self._sender.send(b"!")

    def clear(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._receiver.recv(4096):
                pass

    def wait(self, seconds: float) -> bool:
        """Until set (True; it stays set until cleared) or `seconds` have passed (False)."""
        return bool(self._poll.poll(seconds * 1000))
