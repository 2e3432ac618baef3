"""The API in-process (Flask test client) on the test run's real Redis and PostgreSQL; no workers run,
so every job the API accepts stays queued where the tests can look at it."""

from collections.abc import Callable, Iterator

import pytest

import filas.broker
import filas.db.session
import filas.settings

TOKEN = "test-token"
WEBHOOK_TOKEN = "webhook-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CACHED = (
    filas.settings.get_settings,
    filas.broker.get_redis,
    filas.broker.get_job_store,
    filas.broker.setup_broker,
    filas.db.session.get_engine,
    filas.db.session._session_factory,
)


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Set FILAS_* variables and forget every object built from the previous ones."""

    def apply(**env: str) -> None:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        for cached in CACHED:
            cached.cache_clear()

    yield apply
    for cached in CACHED:
        cached.cache_clear()


@pytest.fixture
def client(configure, redis_url: str, database_url: str):
    configure(FILAS_REDIS_URL=redis_url, FILAS_DATABASE_URL=database_url, FILAS_API_TOKENS=f"other,{TOKEN}",
              FILAS_WEBHOOK_TOKEN=WEBHOOK_TOKEN)
    from filas_api.app import create_app

    return create_app().test_client()
