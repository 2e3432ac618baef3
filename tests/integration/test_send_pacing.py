"""The per-number send pacing, on a real Redis: shared by every pacer of a number (as every worker process and
replica has its own), honouring a gateway's hold, not bursting after a pause, and stopping when asked."""

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
from arrivals import busiest_second
from waiting import wait_for

from filas_campaigns.pacing import PACE_FRACTION, SendPacer, departure_cap

RATE = 50.0


def paced_sends(pacers: list[SendPacer], sends_per_thread: int, threads_per_pacer: int) -> list[float]:
    """Each thread takes `sends_per_thread` slots from its pacer; the monotonic times its sends would leave."""
    times: list[float] = []
    lock = threading.Lock()

    def sender(pacer: SendPacer) -> None:
        for _ in range(sends_per_thread):
            assert pacer.wait_for_slot(lambda: False)
            with lock:
                times.append(time.monotonic())

    threads = [threading.Thread(target=sender, args=(pacer,)) for pacer in pacers for _ in range(threads_per_pacer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return sorted(times)


def test_pacers_of_one_number_share_its_rate(redis_url: str) -> None:
    # Two pacers on two connections: two worker processes sending as one number.
    pacers = [SendPacer(redis.Redis.from_url(redis_url), "evolution:filas", RATE) for _ in range(2)]
    times = paced_sends(pacers, sends_per_thread=10, threads_per_pacer=4)

    assert len(times) == 80
    took = times[-1] - times[0]
    # 80 sends spaced for 90 % of 50/s: 79 intervals of 22.2 ms
    assert took >= 79 / (RATE * PACE_FRACTION) * 0.95
    assert busiest_second(times) <= RATE


def test_a_low_rate_keeps_its_pace(redis_url: str) -> None:
    # 2/s: a one-second cap rounded down from 93 % of it would let one send a second through, half the rate.
    pacer = SendPacer(redis.Redis.from_url(redis_url), "evolution:low", 2.0)
    times = paced_sends([pacer], sends_per_thread=4, threads_per_pacer=3)

    assert len(times) == 12
    assert times[-1] - times[0] < 11 / (2.0 * PACE_FRACTION) * 1.4  # 6.1 s at the pace; 11 s at one a second
    assert busiest_second(times) <= 2


@pytest.mark.parametrize(("rate", "cap"), [(0.5, 1), (1, 1), (1.5, 1), (2, 2), (5, 5), (10, 9), (50, 46), (100, 93)])
def test_the_departure_cap_is_below_the_rate_and_not_below_the_pace(rate: float, cap: int) -> None:
    assert departure_cap(rate) == cap


def test_numbers_are_paced_apart(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    slow = SendPacer(client, "evolution:one", 2.0)
    other = SendPacer(client, "evolution:two", 2.0)
    assert slow.wait_for_slot(lambda: False)
    began = time.monotonic()
    assert other.wait_for_slot(lambda: False)  # another number's first slot is free at once
    assert time.monotonic() - began < 0.4


def test_a_hold_stops_every_send_of_the_number_until_it_ends(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    pacer = SendPacer(client, "meta:123", 100.0)
    assert pacer.wait_for_slot(lambda: False)
    SendPacer(client, "meta:123", 100.0).hold_off(1.5)  # another process met a 429 with Retry-After: 1.5
    began = time.monotonic()
    assert pacer.wait_for_slot(lambda: False)
    assert time.monotonic() - began >= 1.4


def test_a_slot_taken_before_a_hold_waits_for_the_hold(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    pacer = SendPacer(client, "evolution:held", 1.0 / PACE_FRACTION)  # one send a second
    assert pacer.wait_for_slot(lambda: False)
    sent_at: list[float] = []
    schedule = "filas:pace:evolution:held"
    free_before = client.get(schedule)
    waiter = threading.Thread(target=lambda: pacer.wait_for_slot(lambda: False) and sent_at.append(time.monotonic()))
    began = time.monotonic()
    waiter.start()  # takes the slot one second from now and sleeps
    wait_for(lambda: client.get(schedule) != free_before, 5, "the waiter taking its slot")
    held_at = time.monotonic()
    pacer.hold_off(2.0)  # a Retry-After arrives meanwhile, before the waiter's slot (1 s after `began`)
    waiter.join(timeout=10)
    assert sent_at and sent_at[0] - held_at >= 1.95 and held_at - began < 1.0


@pytest.mark.timeout(10)
def test_waiting_for_a_slot_stops_when_asked(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    pacer = SendPacer(client, "evolution:stop", 0.5)  # a slot every 2.2 s
    assert pacer.wait_for_slot(lambda: False)
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    began = time.monotonic()
    assert pacer.wait_for_slot(lambda: False, stop) is False
    assert time.monotonic() - began < 1.0
    assert pacer.wait_for_slot(lambda: True) is False  # a cancel or shutdown before any slot: none is taken


PACED_SENDER = Path(__file__).with_name("_paced_sender.py")


def departures(path: Path) -> list[float]:
    return [float(line) for line in path.read_text().split()]


@pytest.mark.timeout(60)
def test_a_sender_paused_past_its_slots_does_not_burst_when_it_resumes(redis_url: str, tmp_path: Path) -> None:
    # 16 sending threads, each asleep until its slot; the process is stopped (a CPU-starved node, a long GC)
    # until every one of those slots has passed, then resumed: they all wake at once.
    sent = tmp_path / "departures"
    with sent.open("w") as sink:
        sender = subprocess.Popen([sys.executable, str(PACED_SENDER), redis_url, "evolution:paused", str(RATE),
                                   "16", "6"], stdout=sink)
    try:
        wait_for(lambda: len(departures(sent)) >= 20, 20, "the sender under way")
        os.kill(sender.pid, signal.SIGSTOP)
        time.sleep(1.0)  # the pause itself: slots 16 sends deep pass within 0.4 s
        os.kill(sender.pid, signal.SIGCONT)
        assert sender.wait(timeout=30) == 0
    finally:
        sender.kill()
    times = sorted(departures(sent))

    assert max(later - earlier for earlier, later in itertools.pairwise(times)) >= 0.9, "the pause fell between sends"
    assert busiest_second(times) <= RATE
