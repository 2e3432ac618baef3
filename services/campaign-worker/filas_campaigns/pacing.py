"""Pacing: the sends of one sending number spaced evenly, across every worker thread, process and replica.

Written here rather than taken from Dramatiq's rate limiters: those answer "now or not" for a fixed window,
so a caller polls, and two windows' worth can go out back to back across a window's edge (a burst a
gateway counts against the number). Here each send reserves the next free slot of the number's schedule
in Redis (one script call, Redis's own clock for every replica) and sleeps until it: sends leave one
interval apart, never faster than the configured rate, with no polling. A gateway's Retry-After holds every
replica's sends back at once, those already given a slot included (`hold_off`).

Even spacing alone does not bound a second as the gateway counts it: a process paused past its threads' slots
(a CPU-starved node, a long GC) wakes them all at once. So a send also departs through a sliding one-second
window of the number's departures (Redis's clock again): one that would make the window hold more than
DEPARTURE_FRACTION of the rate takes a new slot instead."""

import logging
import math
import threading
import uuid
from collections.abc import Callable

import redis

from filas.broker import get_redis
from filas.settings import get_settings
from filas.sleeping import sleep_unless

logger = logging.getLogger(__name__)

KEY_PREFIX = "filas:pace:"
# A reservation further ahead than this is not taken: the caller checks whether to stop, then asks again.
MAX_AHEAD_SECONDS = 5.0
# Sends leave evenly spaced, but reach the gateway with jitter (a thread woken late, a pause of the
# interpreter, the network), which bunches them: spacing them for this fraction of the configured rate keeps
# any one second, as the gateway counts it, within the limit.
PACE_FRACTION = 0.9
# The hard ceiling on departures in any one second, as a fraction of the configured rate: the rest is room for
# the way from here to the gateway. At a low rate, where this fraction rounds down below the pace (at 2/s it
# would let one send a second through), the ceiling is the pace rounded up, and never more than the rate.
DEPARTURE_FRACTION = 0.93
WINDOW_US = 1_000_000

# KEYS: the number's next free slot, its hold (both µs, Redis clock). ARGV: interval µs, max ahead µs.
# Returns the wait in µs for the slot just reserved, or -(wait) when the next slot is too far ahead.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local free = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), tonumber(redis.call('GET', KEYS[2]) or '0'))
local slot = math.max(now, free)
local wait = slot - now
if wait > tonumber(ARGV[2]) then return -wait end
local next_free = slot + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%d', next_free), 'PX', math.floor((next_free - now) / 1000) + 60000)
return wait
"""

# KEYS: the number's hold. ARGV: hold µs. Nothing leaves before now + hold, reserved or not.
_HOLD_OFF = """
local t = redis.call('TIME')
local until_ = tonumber(t[1]) * 1000000 + tonumber(t[2]) + tonumber(ARGV[1])
if until_ > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], string.format('%d', until_), 'PX', math.floor(tonumber(ARGV[1]) / 1000) + 60000)
end
return 1
"""

# KEYS: the number's hold, its departures (a sorted set scored by µs). ARGV: window µs, most departures in a
# window, this departure's unique token. Returns 1 when the send may leave now (and records it), 0 while the
# hold holds or the window is full.
_DEPART = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
if tonumber(redis.call('GET', KEYS[1]) or '0') > now then return 0 end
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[2], now, ARGV[3])
redis.call('PEXPIRE', KEYS[2], math.floor(window / 1000) + 1000)
return 1
"""


class SendPacer:
    """At most `rate_per_second` sends a second for `sender`, shared through Redis by everyone sending as it."""

    def __init__(self, client: redis.Redis, sender: str, rate_per_second: float) -> None:
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be > 0")
        self.sender = sender
        self.rate_per_second = rate_per_second
        self._schedule, self._hold = KEY_PREFIX + sender, KEY_PREFIX + sender + ":hold"
        self._departures = KEY_PREFIX + sender + ":departures"
        self._interval_us = int(1_000_000 / (rate_per_second * PACE_FRACTION))
        self._most_per_window = departure_cap(rate_per_second)
        self._reserve = client.register_script(_RESERVE)
        self._hold_off = client.register_script(_HOLD_OFF)
        self._depart = client.register_script(_DEPART)

    def wait_for_slot(self, must_stop: Callable[[], bool], stopped: threading.Event | None = None) -> bool:
        """Sleep until this caller's send may leave; False (no slot used) if `must_stop()` turns true or
        `stopped` is set meanwhile. A hold that began while it slept, or a second already full of departures
        (it woke late), sends it back for a new slot."""
        stopped = stopped or threading.Event()
        while True:
            if must_stop() or stopped.is_set():
                return False
            wait_us = self._reserve_slot()
            if wait_us < 0:
                sleep_unless(stopped, min(-wait_us / 1e6 - MAX_AHEAD_SECONDS, MAX_AHEAD_SECONDS) + 0.001)
                continue
            if sleep_unless(stopped, wait_us / 1e6):
                return False  # the slot goes unused
            if self._may_depart_now():
                return True

    def _reserve_slot(self) -> int:
        """µs until the slot just reserved, or -(µs until the next free one) when it is too far ahead."""
        return int(self._reserve(keys=[self._schedule, self._hold],
                                 args=[self._interval_us, int(MAX_AHEAD_SECONDS * 1e6)]))

    def _may_depart_now(self) -> bool:
        """Records this send's departure unless a hold holds or the last second already had its fill."""
        return bool(self._depart(keys=[self._hold, self._departures],
                                 args=[WINDOW_US, self._most_per_window, uuid.uuid4().hex]))

    def hold_off(self, seconds: float) -> None:
        """The gateway asked us to wait: no send as this sender before `seconds` from now."""
        self._hold_off(keys=[self._hold], args=[int(seconds * 1e6)])
        logger.info("sends as %s held off for %.1f s", self.sender, seconds)


def departure_cap(rate_per_second: float) -> int:
    """Most departures in any one second for a number sending at `rate_per_second` (see DEPARTURE_FRACTION)."""
    below_the_rate = math.floor(rate_per_second * DEPARTURE_FRACTION)
    the_pace = math.ceil(rate_per_second * PACE_FRACTION)
    return max(1, min(math.floor(rate_per_second), max(below_the_rate, the_pace)))


def rate_for(gateway_default: float) -> float:
    """FILAS_WHATSAPP_RATE_PER_SECOND, or the gateway's own default when it is 0."""
    return get_settings().whatsapp_rate_per_second or gateway_default


_pacers: dict[tuple[str, float], SendPacer] = {}
_pacers_lock = threading.Lock()


def pacer_for(sender: str, gateway_default_rate: float) -> SendPacer:
    """The process's pacer for a sending number (its Lua scripts registered once)."""
    rate = rate_for(gateway_default_rate)
    with _pacers_lock:
        pacer = _pacers.get((sender, rate))
        if pacer is None:
            pacer = _pacers[(sender, rate)] = SendPacer(get_redis(), sender, rate)
        return pacer
