"""How busy a sender was, as the receiving end counts it."""

import bisect


def busiest_second(times: list[float]) -> int:
    """The most arrivals in any window [t, t + 1 s) that starts at an arrival."""
    ordered = sorted(times)
    return max((bisect.bisect_left(ordered, start + 1.0) - index for index, start in enumerate(ordered)), default=0)
