"""Every actor, declared once: name, queue, retry policy, time limit and argument shape.

The worker that owns an actor binds its implementation to the declaration (`contract.bind(fn)`);
the API and the scheduler enqueue through the same declaration, by name, without importing the
worker's code (`contract.message(**kwargs)` validates the arguments and builds the message).
"""

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dramatiq
from pydantic import BaseModel, ConfigDict, Field

from filas.errors import JobCancelled, PermanentJobError

SECOND_MS = 1000
MINUTE_MS = 60 * SECOND_MS


class Arguments(BaseModel):
    """An actor's arguments: field names are the code's; an alias is the field's key in the message
    (the wire, shared by separately deployed services), which does not change."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class NoArguments(Arguments):
    pass


class BookingArguments(Arguments):
    booking_id: int = Field(alias="integracao_id")


class CampaignArguments(Arguments):
    campaign_id: int = Field(alias="campanha_id")


@dataclass(frozen=True)
class ActorContract:
    name: str
    queue: str
    arguments: type[Arguments]
    description: str
    max_retries: int = 5
    min_backoff_ms: int = 15 * SECOND_MS
    max_backoff_ms: int = 10 * MINUTE_MS
    time_limit_ms: int = 10 * MINUTE_MS
    extra_options: dict[str, Any] = field(default_factory=dict)

    def actor_options(self) -> dict[str, Any]:
        return {
            "max_retries": self.max_retries,
            "min_backoff": self.min_backoff_ms,
            "max_backoff": self.max_backoff_ms,
            "time_limit": self.time_limit_ms,
            # Permanent failures and cancellations are final: the Retries middleware skips them.
            "throws": (PermanentJobError, JobCancelled),
            **self.extra_options,
        }

    def message(self, **kwargs: Any) -> dramatiq.Message:
        """A message for this actor; raises pydantic.ValidationError if the arguments don't fit."""
        arguments = self.arguments(**kwargs)
        return dramatiq.Message(
            queue_name=self.queue,
            actor_name=self.name,
            args=(),
            kwargs=arguments.model_dump(mode="json", by_alias=True),
            options={},
        )

    def bind(self, fn: Callable[..., Any], broker: dramatiq.Broker | None = None) -> dramatiq.Actor:
        """Register `fn` as this actor's implementation on the broker (the worker side)."""
        self.check_signature(fn)
        return dramatiq.actor(
            self._from_wire(fn), actor_name=self.name, queue_name=self.queue, broker=broker, **self.actor_options()
        )

    def _from_wire(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """`fn` called with a message's kwargs: wire keys (aliases) become the field names."""
        names = {field.alias: name for name, field in self.arguments.model_fields.items() if field.alias}
        if not names:
            return fn

        @functools.wraps(fn)
        def from_wire(*args: Any, **kwargs: Any) -> Any:
            return fn(*args, **{names.get(key, key): value for key, value in kwargs.items()})

        return from_wire

    def check_signature(self, fn: Callable[..., Any]) -> None:
        fields = self.arguments.model_fields
        expected = set(fields)
        actual = set(inspect.signature(fn).parameters)
        if expected != actual:
            raise TypeError(f"{fn.__qualname__} takes {sorted(actual)}; {self.name} declares {sorted(expected)} "
                            f"(in messages: {sorted(field.alias or name for name, field in fields.items())})")


SCHEDULE_BOOKING = ActorContract(
    name="portal.schedule_booking",
    queue="atacadao",
    arguments=BookingArguments,
    description="Book a delivery slot on the Atacadão supplier portal and store the protocol",
    max_retries=4,
    min_backoff_ms=20 * SECOND_MS,
    time_limit_ms=30 * MINUTE_MS,  # the portal worker binds FILAS_PORTAL_TIME_LIMIT_SECONDS instead
)

# Both campaign actors work in parts, one per delivery (filas.runtime.continue_later): the time limit is a
# part's, and the retry count starts over after each part that did something.
VALIDATE_NUMBERS = ActorContract(
    name="campaigns.validate_numbers",
    queue="campaigns",
    arguments=CampaignArguments,
    description="Ask the WhatsApp gateway which of a campaign's numbers have WhatsApp",
    time_limit_ms=10 * MINUTE_MS,
)

SEND_CAMPAIGN = ActorContract(
    name="campaigns.send_campaign",
    queue="campaigns",
    arguments=CampaignArguments,
    description="Send a campaign's message to every valid contact that has not opted out, paced, a chunk at a time",
    max_retries=10,  # in a row without progress: a gateway down for about an hour fails the send
    time_limit_ms=10 * MINUTE_MS,
)

FOLLOW_UP = ActorContract(
    name="campaigns.follow_up",
    queue="campaigns",
    arguments=NoArguments,
    description="Daily: send the follow-up message to contacts who have not answered",
    max_retries=3,
    time_limit_ms=2 * 60 * MINUTE_MS,
)

CLEANUP = ActorContract(
    name="maintenance.cleanup",
    queue="maintenance",
    arguments=NoArguments,
    description="Every 6 hours: delete step logs and failed attempts' evidence past their retention",
    max_retries=2,
)

ALL: tuple[ActorContract, ...] = (SCHEDULE_BOOKING, VALIDATE_NUMBERS, SEND_CAMPAIGN, FOLLOW_UP, CLEANUP)
BY_NAME: dict[str, ActorContract] = {contract.name: contract for contract in ALL}
QUEUES: tuple[str, ...] = tuple(sorted({contract.queue for contract in ALL}))
