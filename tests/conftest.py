"""Fixtures shared by every test: a throwaway real Redis and PostgreSQL for the run, the whole system.

- `redis_url`, `database_url` (session): started once per test run (devtools), the database migrated.
  Every test that uses either starts from an empty Redis (FLUSHALL) and empty domain tables.
- `stack` (session): simulators, api, workers and scheduler as real processes (devtools/stack.py, the
  same definition `make run` uses); a failing test that used it shows the tail of each process's log.
- `chromium_path` (session) and the `chromium` marker: tests that drive a browser.

Without Redis, PostgreSQL or Chromium the tests that need them are skipped on a laptop, and fail in
CI (CI=true): CI must never pass by skipping them.
"""

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from typing import NoReturn

import pytest
import redis
import sqlalchemy

import filas.singletons
from filas_devtools.chromium import Chromium, ChromiumMissing, find_chromium
from filas_devtools.postgres_server import PostgresNotFound, PostgresServer
from filas_devtools.redis_server import RedisNotFound, RedisServer
from filas_devtools.stack import Stack, StackConfig

IN_CI = os.environ.get("CI", "").lower() == "true"


def missing(what: str) -> NoReturn:
    """Skip the test on a laptop; fail it in CI."""
    if IN_CI:
        pytest.fail(f"{what} (required when CI=true)", pytrace=False)
    pytest.skip(what)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chromium: needs a Chromium (skipped without one; an error in CI)")
    config.addinivalue_line("markers", "soak: production volume, tens of minutes (`make test-soak`; CI runs it)")
    config.addinivalue_line("markers", "cluster: the chart on a live Kubernetes (`make test-cluster`; CI runs it)")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("chromium"):
        _chromium_path_or_missing()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[pytest.TestReport]:
    report = yield
    stack = getattr(item, "funcargs", {}).get("stack")
    if report.failed and isinstance(stack, Stack):
        exited = ", ".join(f"{name} (exit {code})" for name, code in stack.exited().items()) or "none"
        report.sections.append(("stack process logs", f"exited processes: {exited}\n{stack.tails()}"))
    return report


@contextlib.contextmanager
def throwaway_redis() -> Iterator[str]:
    server = RedisServer()
    try:
        url = server.start()
    except RedisNotFound as error:
        missing(str(error))
    try:
        yield url
    finally:
        server.stop()


@contextlib.contextmanager
def throwaway_database() -> Iterator[str]:
    server = PostgresServer()
    try:
        url = server.start()
    except PostgresNotFound as error:
        missing(str(error))
    try:
        _migrate(url)
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with throwaway_redis() as url:
        yield url


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    with throwaway_database() as url:
        yield url


@pytest.fixture(scope="session")
def database_engine(database_url: str) -> Iterator[sqlalchemy.Engine]:
    engine = sqlalchemy.create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def clean_redis(redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as client:
        client.flushall()


@pytest.fixture
def clean_database(database_engine: sqlalchemy.Engine) -> None:
    truncate_domain_tables(database_engine)


def truncate_domain_tables(engine: sqlalchemy.Engine) -> None:
    tables = _domain_tables(engine)
    if tables:
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text("SET LOCAL lock_timeout = '10s'"))
            connection.execute(sqlalchemy.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


@pytest.fixture(autouse=True)
def _start_clean(request: pytest.FixtureRequest) -> None:
    """Every test that uses Redis or the database starts from empty ones."""
    if "redis_url" in request.fixturenames:
        request.getfixturevalue("clean_redis")
    if "database_url" in request.fixturenames:
        request.getfixturevalue("clean_database")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole system on free ports; attributes api_url, token, portal_url, whatsapp_url, config.

    It has a Redis and a database of its own: its workers must never take the messages that in-process
    tests enqueue on `redis_url` and inspect."""
    found = _chromium()  # only browser tests need one; they ask for `chromium_path` or the marker
    chromium = "" if isinstance(found, ChromiumMissing) else found.executable_path or ""
    with throwaway_redis() as redis_url, throwaway_database() as database_url:
        config = StackConfig.with_free_ports(redis_url, database_url, chromium_path=chromium)
        running = Stack(config, tmp_path_factory.mktemp("stack")).start()
        try:
            yield running
        finally:
            running.stop()


@pytest.fixture
def clean_stack(stack: Stack) -> None:
    """Empty the stack's Redis and domain tables (its processes keep running)."""
    with redis.Redis.from_url(stack.config.redis_url) as client:
        client.flushall()
    engine = sqlalchemy.create_engine(stack.config.database_url)
    try:
        truncate_domain_tables(engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The Chromium executable to launch; "" means Playwright's own (as FILAS_CHROMIUM_PATH)."""
    return _chromium_path_or_missing()


@functools.cache
def _chromium() -> Chromium | ChromiumMissing:
    """Looked up once per run: finding Playwright's own browser starts a Playwright driver."""
    try:
        return find_chromium()
    except ChromiumMissing as error:
        return error


def _chromium_path_or_missing() -> str:
    found = _chromium()
    if isinstance(found, ChromiumMissing):
        missing(str(found))
    return found.executable_path or ""


def _migrate(database_url: str) -> None:
    try:
        from filas.db.migrate import upgrade
    except ModuleNotFoundError as error:
        if error.name in ("filas.db", "filas.db.migrate"):
            return  # no migrations written yet
        raise
    upgrade(database_url)


def _domain_tables(engine: sqlalchemy.Engine) -> list[str]:
    """The quoted names of the models' tables that exist in the database."""
    try:
        from filas.db.models import Base
    except ModuleNotFoundError as error:
        if error.name in ("filas.db", "filas.db.models"):
            return []
        raise
    existing = set(sqlalchemy.inspect(engine).get_table_names())
    quote = engine.dialect.identifier_preparer.format_table
    return [quote(table) for table in Base.metadata.sorted_tables if table.name in existing]




@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Set FILAS_* variables and forget every object built from the previous ones."""

    def apply(**env: str) -> None:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        filas.singletons.forget_all()

    yield apply
    filas.singletons.forget_all()
