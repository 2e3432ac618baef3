"""The API in-process (Flask test client) on the test run's real Redis and PostgreSQL; no workers run,
so every job the API accepts stays queued where the tests can look at it."""

import pytest

TOKEN = "test-token"
WEBHOOK_TOKEN = "webhook-secret"


@pytest.fixture
def client(configure, redis_url: str, database_url: str):
    configure(FILAS_REDIS_URL=redis_url, FILAS_DATABASE_URL=database_url, FILAS_API_TOKENS=f"other,{TOKEN}",
              FILAS_WEBHOOK_TOKEN=WEBHOOK_TOKEN)
    from filas_api.app import create_app

    return create_app().test_client()
