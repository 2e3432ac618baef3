"""End-to-end: the whole system as real processes (the session `stack` fixture), driven over HTTP."""

from collections.abc import Callable, Iterator
from typing import Any

import dramatiq
import httpx
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker
from waiting import wait_for

WAIT_SECONDS = 120  # generous: a cold Chromium on a loaded 2-vCPU machine takes a while


class Api:
    def __init__(self, stack):
        self.http = httpx.Client(base_url=stack.api_url, headers={"Authorization": f"Bearer {stack.token}"},
                                 timeout=30)

    def post(self, path: str, **kwargs) -> httpx.Response:
        return self.http.post(path, **kwargs)

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def wait_until(self, url: str, done: Callable[[dict[str, Any]], bool], timeout: float = WAIT_SECONDS) -> dict:
        """Poll a status URL until `done(body)`; fail with the last body seen."""
        last: dict[str, Any] = {}

        def reached() -> dict[str, Any] | None:
            last.update(self.http.get(url).json())
            return dict(last) if done(last) else None

        return wait_for(reached, timeout, f"{url} reaching the expected state", details=lambda: f"last: {last}")


@pytest.fixture(autouse=True)
def _fresh_system(clean_stack) -> None:
    """Every end-to-end test starts with an empty queue and database (the processes keep running)."""


@pytest.fixture
def stack_database_url(stack) -> str:
    return stack.config.database_url


@pytest.fixture
def stack_redis(stack) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(stack.config.redis_url, decode_responses=True) as client:
        yield client


@pytest.fixture
def enqueue_by_name(stack) -> Iterator[Callable[[dramatiq.Message], str]]:
    """Send a contract's message straight to the stack's Redis, as the scheduler or the reconciler does."""
    broker = RedisBroker(url=stack.config.redis_url)
    yield lambda message: broker.enqueue(message).message_id
    broker.close()


@pytest.fixture
def api(stack) -> Iterator[Api]:
    client = Api(stack)
    yield client
    client.http.close()


@pytest.fixture
def portal_sim(stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.portal_url, timeout=10) as client:
        client.post("/_sim/reset").raise_for_status()
        yield client


@pytest.fixture
def whatsapp_sim(stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.whatsapp_url, timeout=10) as client:
        client.post("/_sim/reset").raise_for_status()
        yield client
