"""What the WhatsApp gateway simulators remember, in the part they share: their configuration, the records of
what happened (sends, webhooks posted, ...) and an epoch that reset bumps, behind one lock.

A simulator's state is a dataclass subclass whose fields all have defaults (a fresh instance holds what reset
goes back to), naming its configuration keys in CONFIG_KEYS and what reset forgets besides in RECORDS."""

import threading
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self


@dataclass
class GatewayState:
    """Every public method takes the lock."""

    CONFIG_KEYS: ClassVar[tuple[str, ...]] = ()
    RECORDS: ClassVar[tuple[str, ...]] = ()  # forgotten by reset, with the configuration

    # Bumped by reset: work begun before it (a request still sleeping out `latency_ms` after its client gave up,
    # queued webhooks) must not be recorded after it, or it would leak into the next test's records.
    epoch: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reset(self) -> None:
        self._reset_to(type(self)())

    def _reset_to(self, fresh: Self) -> None:
        """Take `fresh`'s configuration and records, and start a new epoch."""
        with self._lock:
            for name in (*self.CONFIG_KEYS, *self.RECORDS):
                setattr(self, name, getattr(fresh, name))
            self.epoch += 1

    def configure(self, changes: dict[str, Any]) -> None:
        """Apply already-validated changes; keys not given keep their value."""
        with self._lock:
            for key, value in changes.items():
                setattr(self, key, value)

    def config(self) -> dict[str, Any]:
        """The configuration, as JSON carries it: sets sorted, other collections copied."""
        with self._lock:
            values = {key: getattr(self, key) for key in self.CONFIG_KEYS}
        return {key: _plain(value) for key, value in values.items()}

    def record(self, name: str, item: Any, epoch: int) -> None:
        """Append `item` to the record `name`, unless a reset came since `epoch` (when the work began)."""
        with self._lock:
            if epoch == self.epoch:
                getattr(self, name).append(item)

    def snapshot(self, name: str) -> list[Any]:
        with self._lock:
            return list(getattr(self, name))


def _plain(value: Any) -> Any:
    if isinstance(value, set):
        return sorted(value)
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value
