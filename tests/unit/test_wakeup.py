"""filas.sleeping.Wakeup: the consumers' wait for a free thread or a local enqueue, cut short by the waker."""

import threading

import pytest

from filas.sleeping import Wakeup


@pytest.mark.timeout(10)
def test_a_set_from_another_thread_ends_the_wait_before_its_timeout() -> None:
    wakeup = Wakeup()
    waiting = threading.Event()

    def waker() -> None:
        waiting.wait(5)
        wakeup.set()

    threading.Thread(target=waker).start()
    waiting.set()
    assert wakeup.wait(5) is True  # False only after the full 5 s: the set did not wake it


def test_it_stays_set_until_cleared_however_often_it_was_set() -> None:
    wakeup = Wakeup()
    assert wakeup.wait(0.01) is False
    for _ in range(100_000):  # more than the socket buffer holds
        wakeup.set()
    assert wakeup.wait(0) is True
    assert wakeup.wait(0) is True
    wakeup.clear()
    assert wakeup.wait(0.01) is False
