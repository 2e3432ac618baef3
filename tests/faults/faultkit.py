"""The fault tests' kit: real processes, broken for real (SIGKILL, SIGTERM, Redis restarted or flushed, PostgreSQL
stopped), on 127.0.0.1 only.

Each test module builds its own system (`own_system`): a throwaway Redis and PostgreSQL and the processes
it needs, from the one definition in filas_devtools.stack, with settings tuned for the fault (short
heartbeat timeout, lease and reconcile grace). The session-wide `stack` other tests share is never touched.

Every wait is for a condition (`wait_for`), bounded; nothing asserts on how long something took. Each test
carries a pytest timeout marker. A failing test's report shows the tail of every process's log.
"""

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest
import redis
import sqlalchemy
import sqlalchemy.exc

from filas.db.migrate import upgrade
from filas.db.models import Base
from filas_devtools.postgres_server import PostgresNotFound, PostgresServer
from filas_devtools.redis_server import RedisNotFound, RedisServer
from filas_devtools.stack import ProcessSpec, Stack, StackConfig, process_specs

IN_CI = os.environ.get("CI", "").lower() == "true"
WAIT = 180.0  # the default bound of one wait; generous: a loaded 2-vCPU machine is slow, not broken


def missing(what: str) -> NoReturn:
    """Skip on a laptop without Redis or PostgreSQL; fail in CI (as tests/conftest.py does)."""
    if IN_CI:
        pytest.fail(f"{what} (required when CI=true)", pytrace=False)
    pytest.skip(what)


def truncate_domain_tables(database_url: str) -> None:
    engine = sqlalchemy.create_engine(database_url)
    try:
        existing = set(sqlalchemy.inspect(engine).get_table_names())
        quote = engine.dialect.identifier_preparer.format_table
        tables = [quote(table) for table in Base.metadata.sorted_tables if table.name in existing]
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


# A poll that meets one of these (a service restarting, a database coming back) is a poll that is not done
# yet; any other error (a 404 where a status was expected) fails the wait at once.
NOT_YET = (httpx.TransportError, redis.ConnectionError, sqlalchemy.exc.OperationalError)


# Settings under which a fault heals within seconds, not minutes: a dead worker's messages come back after
# 4 s of silence (dead-worker recovery checked on every broker command), a dead delivery's hold on its row
# lapses after 6 s, and the reconciler picks up work with no live delivery after 15 s.
FAST_RECOVERY = {
    "FILAS_BROKER_HEARTBEAT_TIMEOUT_MS": "4000",
    "FILAS_BROKER_MAINTENANCE_CHANCE": "1000000",
    "FILAS_JOB_LEASE_SECONDS": "6",
    "FILAS_RECONCILE_GRACE_SECONDS": "15",
}


def wait_for(check: Callable[[], Any], what: str, timeout: float = WAIT, interval: float = 0.25) -> Any:
    """Poll `check` until it returns something truthy (returned); fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            value = check()
            if value:
                return value
            last = value
        except NOT_YET as error:
            last = error
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not reached within {timeout:.0f} s (last seen: {last!r})")
        time.sleep(interval)


class Api:
    """The stack's API, as the front end calls it."""

    def __init__(self, stack: Stack):
        self.http = httpx.Client(base_url=stack.api_url, headers={"Authorization": f"Bearer {stack.token}"},
                                 timeout=30)

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(self, path: str, **kwargs) -> httpx.Response:
        return self.http.post(path, **kwargs)

    def status(self, url: str) -> dict[str, Any]:
        reply = self.http.get(url)
        reply.raise_for_status()
        return reply.json()

    def close(self) -> None:
        self.http.close()


class RestartableRedis:
    """A throwaway Redis that can go away and come back on the same port (empty: it persists nothing,
    like a cache node replaced or restarted without persistence)."""

    def __init__(self) -> None:
        self.server = RedisServer()
        self.port: int | None = None

    def start(self) -> str:
        url = self.server.start()
        self.port = self.server.port
        return url

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def running(self) -> bool:
        return self.server.pid is not None

    def stop(self) -> None:
        self.server.stop()

    def start_again(self) -> None:
        """After stop(): a new, empty redis-server on the same port."""
        self.server = RedisServer(port=self.port)
        self.server.start()

    def flushall(self) -> None:
        with redis.Redis.from_url(self.url) as client:
            client.flushall()

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True)


class Supervisor:
    """Starts again, as Kubernetes would (restartPolicy: Always), the named processes that exit by
    themselves; records each restart. Processes the test kills on purpose are not named here."""

    def __init__(self, stack: Stack, names: Iterable[str]):
        self.stack = stack
        self.names = set(names)
        self.restarts: list[tuple[str, int]] = []  # (name, exit code)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fault-supervisor", daemon=True)

    def start(self) -> "Supervisor":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            for name, code in self.stack.exited().items():
                if name in self.names:
                    self.restarts.append((name, code))
                    with contextlib.suppress(Exception):  # tried again on the next round
                        self.stack.respawn(name)


@dataclass
class FaultSystem:
    stack: Stack
    redis: RestartableRedis
    postgres: PostgresServer
    api: Api
    supervisor: Supervisor
    env: Mapping[str, str] = field(default_factory=dict)
    baseline: int = 0  # a test's own counter (e.g. log lines seen before it started)

    @property
    def database_url(self) -> str:
        return self.stack.config.database_url

    def log(self, name: str) -> str:
        path = self.stack.log_path(name)
        return path.read_text(errors="replace") if path.exists() else ""

    def sim(self, which: str) -> httpx.Client:
        url = self.stack.whatsapp_url if which == "whatsapp" else self.stack.portal_url
        return httpx.Client(base_url=url, timeout=30)

    def reset(self) -> None:
        """Between tests of a module: empty Redis and the domain tables, reset the simulators."""
        self.redis.flushall()
        truncate_domain_tables(self.database_url)
        for spec in self.stack.specs:
            if spec.name in ("whatsapp-sim", "portal-sim"):
                with self.sim(spec.name.removesuffix("-sim")) as sim:
                    sim.post("/_sim/reset").raise_for_status()


def _tuned(specs: list[ProcessSpec], wanted: Iterable[str], extra_argv: Mapping[str, list[str]]) -> list[ProcessSpec]:
    by_name = {spec.name: spec for spec in specs}
    chosen = []
    for name in wanted:
        spec = by_name[name]
        if name in extra_argv:
            spec = ProcessSpec(spec.name, [*spec.argv, *extra_argv[name]], spec.env, spec.ready_url,
                               spec.ready_status)
        chosen.append(spec)
    return chosen


@contextlib.contextmanager
def own_system(run_dir: Path, processes: Iterable[str], env: Mapping[str, str], *,
               extra_argv: Mapping[str, list[str]] | None = None, supervise: Iterable[str] = (),
               chromium_path: str = "") -> Iterator[FaultSystem]:
    """A system of its own for one test module: its Redis, its PostgreSQL (migrated), the named processes
    (stack.py's definitions; `extra_argv` appends arguments to some) with FILAS_* `env` on top of the
    stack's own, and a supervisor that restarts the `supervise` ones if they exit."""
    redis_server = RestartableRedis()
    postgres = PostgresServer()
    try:
        redis_server.start()
    except RedisNotFound as error:
        missing(str(error))
    try:
        try:
            postgres.start()
        except PostgresNotFound as error:
            missing(str(error))
        upgrade(postgres.url)
        config = StackConfig.with_free_ports(redis_server.url, postgres.url, chromium_path=chromium_path,
                                             extra_env=dict(env))
        specs = _tuned(process_specs(config, run_dir), processes, extra_argv or {})
        stack = Stack(config, run_dir, specs=specs, setup=[]).start()
        supervisor = Supervisor(stack, supervise).start()
        api = Api(stack)
        try:
            yield FaultSystem(stack, redis_server, postgres, api, supervisor, env)
        finally:
            supervisor.stop()
            api.close()
            stack.stop()
    finally:
        postgres.stop()
        redis_server.stop()


# --- campaigns ----------------------------------------------------------------------------------------

FINAL = ("finished", "failed", "cancelled")


def mobile(n: int) -> str:
    """The n-th test mobile, E.164 digits: 55 85 98nnnnnnn."""
    return f"558598{n:07d}"


def create_campaign(api: Api, phones: list[str], name: str = "Busca ativa (falhas)",
                    text: str = "Olá! Sua consulta está disponível.") -> int:
    contacts = [{"nome": f"Paciente {index}", "telefone": telefone} for index, telefone in enumerate(phones)]
    reply = api.post("/api/campanhas", json={"nome": name, "mensagem": text, "contatos": contacts})
    assert reply.status_code == 201, reply.text
    return reply.json()["campanha"]["id"]


def start_task(api: Api, campaign_id: int, action: str) -> dict[str, Any]:
    """POST .../validar or .../enviar: 202 with the task's id and status URL."""
    reply = api.post(f"/api/campanhas/{campaign_id}/{action}")
    assert reply.status_code == 202, reply.text
    return reply.json()


def task_ended(api: Api, status_url: str, timeout: float = WAIT) -> dict[str, Any]:
    return wait_for(lambda: (body := api.status(status_url))["status"] in FINAL and body,
                    f"the task {status_url} ending", timeout)


def message_rows(database_url: str, campaign_id: int) -> list[tuple[str, str, str | None]]:
    """(contact's number, message status, gateway message id) of every message row of the campaign."""
    from sqlalchemy import select

    from filas.db.models import CampaignMessage, Contact
    from filas.db.session import session_scope

    with session_scope(database_url) as session:
        return [tuple(row) for row in session.execute(
            select(Contact.telefone, CampaignMessage.status, CampaignMessage.gateway_message_id)
            .join(CampaignMessage, CampaignMessage.contact_id == Contact.id)
            .where(CampaignMessage.campaign_id == campaign_id)
        ).all()]


def count_message_rows(database_url: str, campaign_id: int) -> int:
    from sqlalchemy import func, select

    from filas.db.models import CampaignMessage
    from filas.db.session import session_scope

    with session_scope(database_url) as session:
        return session.scalar(select(func.count()).select_from(CampaignMessage)
                              .where(CampaignMessage.campaign_id == campaign_id))


@contextlib.contextmanager
def campaign_system(run_dir: Path, gateway_sim: str, env: Mapping[str, str]) -> Iterator[FaultSystem]:
    """The campaign fault tests' system: the gateway's simulator (`gateway_sim`: "whatsapp-sim", "meta-sim"),
    the API, the campaign worker as two processes of 4 threads each, and the scheduler; all but the worker are
    started again if they exit (a test kills and restarts the worker itself)."""
    with own_system(run_dir, [gateway_sim, "api", "campaign-worker", "scheduler"], env,
                    extra_argv={"campaign-worker": ["--processes", "2", "--threads", "4"]},
                    supervise=[gateway_sim, "api", "scheduler"]) as running:
        yield running


def kill_and_restart_worker(system: FaultSystem, while_down: Callable[[], Any] | None = None) -> Any:
    """SIGKILL the campaign worker (all its processes) and start it again, as Kubernetes would; returns what
    `while_down` returned, called in between, while no worker is alive."""
    system.stack.kill("campaign-worker", signal.SIGKILL)
    seen = while_down() if while_down is not None else None
    system.stack.respawn("campaign-worker")
    return seen


def spaced_faults(system: FaultSystem, campaign_id: int, faults: Iterable[Any], every: int,
                  contacts: int) -> Iterator[Any]:
    """Each of `faults` in turn, once the campaign's send has claimed `every` more message rows since the last;
    fails if the campaign (of `contacts` numbers) is claimed whole before the last fault."""
    claimed = 0
    for number, fault in enumerate(faults, start=1):
        claimed = wait_for(
            lambda floor=claimed: (n := count_message_rows(system.database_url, campaign_id)) >= floor + every and n,
            f"the send under way before fault {number}", timeout=300)
        assert claimed < contacts, "the campaign ended before all the faults: make it bigger"
        yield fault


def unavailable_message(reply: httpx.Response) -> str:
    """The message of a 503 in either dialect ({"success", "message"} or {"sucesso", "erro"}); fails on any
    other answer (a 500 above all)."""
    where = f"{reply.request.method} {reply.request.url.path}"
    assert reply.status_code == 503, f"{where}: {reply.status_code} {reply.text}"
    body = reply.json()
    said = body.get("message") if "success" in body else body.get("erro")
    assert body.get("success", body.get("sucesso")) is False and isinstance(said, str) and said, body
    return said
