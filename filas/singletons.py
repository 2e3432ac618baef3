"""Process-wide objects built once from the settings — the settings themselves, Redis clients, the job
store, the broker, database engines — and the one way to forget them all (tests that change the
settings, a process that must rebuild its clients)."""

import functools
from collections.abc import Callable
from typing import Any

_built: list[Any] = []


def process_wide(maxsize: int = 1) -> Callable[[Callable[..., Any]], Any]:
    """Like functools.lru_cache, and registered so that `forget_all` clears it."""

    def decorate(build: Callable[..., Any]) -> Any:
        cached = functools.lru_cache(maxsize=maxsize)(build)
        _built.append(cached)
        return cached

    return decorate


def forget_all() -> None:
    """The next call of each process-wide getter builds its object again from the current settings."""
    for cached in _built:
        cached.cache_clear()
