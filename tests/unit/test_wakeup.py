"""filas.sleeping.Wakeup: the consumers' wait for a free thread or a local enqueue, cut short by the waker."""

import threading

import pytest

from filas.sleeping import Wakeup


@pytest.mark.timeout(10)
def test_a_set_from_another_thread_ends_the_wait_long_before_its_timeout() -> None:
    wakeup = Wakeup()
    threading.Timer(0.2, wakeup.set).start()  # most likely while the wait below is under way
    assert wakeup.wait(60) is True  # a wait the set did not end would run into the test's 10 s timeout


def test_it_stays_set_until_cleared_however_often_it_was_set() -> None:
    wakeup = Wakeup()
    assert wakeup.wait(0.01) is False
    for _ in range(100_000):  # more than the socket buffer holds
        wakeup.set()
    assert wakeup.wait(0) is True
    assert wakeup.wait(0) is True
    wakeup.clear()
    assert wakeup.wait(0.01) is False
