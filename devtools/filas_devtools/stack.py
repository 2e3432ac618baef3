"""The local Filas system: the ONE definition of its processes, used by `make run` and the tests.

    config = StackConfig.with_free_ports(redis_url=..., database_url=...)
    with Stack(config, run_dir) as stack:       # runs filas-migrate, starts everything, waits until ready
        httpx.get(f"{stack.api_url}/readyz", headers={"Authorization": f"Bearer {stack.token}"})

Each process runs from the repo root with the venv's bin first on PATH, in its own process group,
its output in <run_dir>/logs/<name>.log (and passed to `on_line`, if given).
"""

import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from filas_devtools.ports import HOST, free_port, http_status
from filas_devtools.process_group import GroupProcess, LineSink, tail

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
START_TIMEOUT = 90.0
STOP_GRACE = 10.0


class StackError(RuntimeError):
    pass


@dataclass(frozen=True, repr=False)
class Secrets:
    """Generated per run; never written into the repo, nor shown by repr (test reports print configs)."""

    api_token: str
    webhook_token: str
    portal_username: str
    portal_password: str
    evolution_api_key: str
    meta_access_token: str
    meta_app_secret: str  # signs the Cloud API simulator's webhooks; the API verifies them with it
    meta_verify_token: str

    def __repr__(self) -> str:
        return "Secrets(<hidden>)"

    @classmethod
    def generate(cls) -> "Secrets":
        return cls(
            api_token=secrets.token_urlsafe(24),
            webhook_token=secrets.token_urlsafe(24),
            portal_username=f"filas-{secrets.token_hex(3)}",
            portal_password=secrets.token_urlsafe(18),
            evolution_api_key=secrets.token_urlsafe(24),
            meta_access_token=secrets.token_urlsafe(32),
            meta_app_secret=secrets.token_hex(16),
            meta_verify_token=secrets.token_urlsafe(24),
        )


@dataclass(frozen=True)
class StackConfig:
    redis_url: str
    database_url: str
    api_port: int = 8000
    portal_sim_port: int = 8101
    whatsapp_sim_port: int = 8102
    meta_sim_port: int = 8103  # the WhatsApp Cloud API (Meta) simulator's, run when the gateway is meta
    portal_metrics_port: int = 9191
    campaign_metrics_port: int = 9192
    scheduler_metrics_port: int = 9193
    chromium_path: str = ""  # empty: Playwright's own browser
    log_level: str = "INFO"
    log_format: str = "json"  # as in production; `make run` chooses plain
    evolution_instance: str = "filas"
    meta_phone_number_id: str = "100000000000001"
    secrets: Secrets = field(default_factory=Secrets.generate)
    extra_env: Mapping[str, str] = field(default_factory=dict)  # e.g. FILAS_* a developer set; ours win

    @classmethod
    def with_free_ports(cls, redis_url: str, database_url: str, **overrides) -> "StackConfig":
        ports = ("api_port", "portal_sim_port", "whatsapp_sim_port", "meta_sim_port", "portal_metrics_port",
                 "campaign_metrics_port", "scheduler_metrics_port")
        return cls(redis_url, database_url, **{name: free_port() for name in ports} | overrides)

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.api_port}"

    @property
    def portal_url(self) -> str:
        return f"http://{HOST}:{self.portal_sim_port}"

    @property
    def whatsapp_url(self) -> str:
        return f"http://{HOST}:{self.whatsapp_sim_port}"

    @property
    def webhook_url(self) -> str:
        """Where the WhatsApp gateway (here: its simulator) posts incoming messages."""
        return f"{self.api_url}/api/webhooks/evolution?token={self.secrets.webhook_token}"

    @property
    def whatsapp_gateway(self) -> str:
        """The gateway the campaign worker sends through: FILAS_WHATSAPP_GATEWAY among the extra settings,
        else evolution (the services' default)."""
        return self.extra_env.get("FILAS_WHATSAPP_GATEWAY", "evolution").strip().lower() or "evolution"

    @property
    def uses_meta(self) -> bool:
        """Whether the system includes the Cloud API simulator (meta-sim) and the services its settings."""
        return self.whatsapp_gateway == "meta"

    @property
    def meta_url(self) -> str:
        return f"http://{HOST}:{self.meta_sim_port}"

    @property
    def meta_webhook_url(self) -> str:
        """Where the Cloud API (here: its simulator) posts statuses and messages, signed with the app secret."""
        return f"{self.api_url}/api/webhooks/meta"


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str]  # added to the inherited environment, whose FILAS_* variables are dropped
    ready_url: str | None = None  # polled until it answers; None: ready once started
    ready_status: int | None = None  # the status ready_url must answer; None: any HTTP answer

    def is_ready(self) -> bool:
        if self.ready_url is None:
            return True
        status = http_status(self.ready_url, timeout=5.0)  # a busy machine answers slowly while booting
        return status is not None and self.ready_status in (None, status)


def service_env(config: StackConfig) -> dict[str, str]:
    """The FILAS_* environment every Filas service reads (filas/settings.py); with FILAS_WHATSAPP_GATEWAY=meta,
    also the Cloud API's, pointing at its simulator."""
    s = config.secrets
    return {
        **config.extra_env,
        "FILAS_REDIS_URL": config.redis_url,
        "FILAS_DATABASE_URL": config.database_url,
        "FILAS_API_TOKENS": s.api_token,
        "FILAS_WEBHOOK_TOKEN": s.webhook_token,
        "FILAS_PORTAL_URL": config.portal_url,
        "FILAS_PORTAL_USERNAME": s.portal_username,
        "FILAS_PORTAL_PASSWORD": s.portal_password,
        "FILAS_EVOLUTION_URL": config.whatsapp_url,
        "FILAS_EVOLUTION_API_KEY": s.evolution_api_key,
        "FILAS_EVOLUTION_INSTANCE": config.evolution_instance,
        "FILAS_CHROMIUM_PATH": config.chromium_path,
        "FILAS_LOG_LEVEL": config.log_level,
        "FILAS_LOG_FORMAT": config.log_format,
        **_meta_env(config),
    }


def _meta_env(config: StackConfig) -> dict[str, str]:
    if not config.uses_meta:
        return {}
    s = config.secrets
    return {
        "FILAS_META_URL": config.meta_url,
        "FILAS_META_ACCESS_TOKEN": s.meta_access_token,
        "FILAS_META_PHONE_NUMBER_ID": config.meta_phone_number_id,
        "FILAS_META_APP_SECRET": s.meta_app_secret,
        "FILAS_META_VERIFY_TOKEN": s.meta_verify_token,
    }


def migrate_spec(config: StackConfig) -> ProcessSpec:
    return ProcessSpec("migrate", ["filas-migrate"], service_env(config))


def process_specs(config: StackConfig, run_dir: Path) -> list[ProcessSpec]:
    """Simulators first (the Cloud API's only when FILAS_WHATSAPP_GATEWAY=meta), then the four services."""
    env = service_env(config)
    s = config.secrets
    meta = [ProcessSpec(
        "meta-sim",
        ["python", "-m", "filas_simulators.meta_cloud", "--host", HOST, "--port", str(config.meta_sim_port),
         "--phone-number-id", config.meta_phone_number_id],
        {"FILAS_LOG_LEVEL": config.log_level, "FILAS_SIM_META_ACCESS_TOKEN": s.meta_access_token,
         "FILAS_SIM_META_APP_SECRET": s.meta_app_secret},
        ready_url=config.meta_url,
    )] if config.uses_meta else []
    return [
        ProcessSpec(
            "portal-sim",
            ["python", "-m", "filas_simulators.portal", "--host", HOST, "--port", str(config.portal_sim_port)],
            {"FILAS_LOG_LEVEL": config.log_level, "FILAS_SIM_PORTAL_USERNAME": s.portal_username,
             "FILAS_SIM_PORTAL_PASSWORD": s.portal_password},
            ready_url=config.portal_url,
        ),
        ProcessSpec(
            "whatsapp-sim",
            ["python", "-m", "filas_simulators.whatsapp", "--host", HOST, "--port", str(config.whatsapp_sim_port),
             "--instance", config.evolution_instance],
            {"FILAS_LOG_LEVEL": config.log_level, "FILAS_SIM_EVOLUTION_API_KEY": s.evolution_api_key},
            ready_url=config.whatsapp_url,
        ),
        *meta,
        ProcessSpec(
            "api",
            ["gunicorn", "-c", "python:filas_api.gunicorn_conf", "--bind", f"{HOST}:{config.api_port}",
             "filas_api.wsgi:app"],
            env | _gunicorn_env(config.api_port) | _metrics_env(run_dir, "api"),
            ready_url=f"{config.api_url}/readyz",
            ready_status=200,
        ),
        ProcessSpec(
            "portal-worker",
            ["dramatiq", "filas_portal.worker", "--processes", "1", "--threads", "2"],
            env | _metrics_env(run_dir, "portal-worker", config.portal_metrics_port),
        ),
        ProcessSpec(
            "campaign-worker",
            ["dramatiq", "filas_campaigns.worker", "--processes", "1", "--threads", "4"],
            env | _metrics_env(run_dir, "campaign-worker", config.campaign_metrics_port),
        ),
        ProcessSpec("scheduler", ["filas-scheduler"],
                    env | _metrics_env(run_dir, "scheduler", config.scheduler_metrics_port)),
    ]


def _gunicorn_env(port: int) -> dict[str, str]:
    # gunicorn's control socket defaults to one path per user: two local APIs would fight over it.
    # One worker (with threads) carries a local run and boots faster on a small machine.
    control_socket = Path(tempfile.gettempdir()) / f"filas-api-{port}.ctl"
    return {"GUNICORN_CMD_ARGS": f"--control-socket {control_socket}", "FILAS_API_WORKERS": "1"}


def _metrics_env(run_dir: Path, name: str, port: int | None = None) -> dict[str, str]:
    # The metrics default to 0.0.0.0:9191 and one /tmp dir per kind of service: two local workers would
    # collide on the port and mix their counters, and a local run must not listen beyond this machine.
    env = {"FILAS_METRICS_HOST": HOST, "FILAS_METRICS_DIR": str(run_dir / "prometheus" / name)}
    return env if port is None else env | {"FILAS_METRICS_PORT": str(port)}


class Stack:
    def __init__(
        self,
        config: StackConfig,
        run_dir: Path,
        *,
        on_line: LineSink | None = None,
        specs: Sequence[ProcessSpec] | None = None,
        setup: Sequence[ProcessSpec] | None = None,
        cwd: Path = REPO_ROOT,
    ):
        self.config = config
        self.run_dir = Path(run_dir)
        self.specs = list(process_specs(config, self.run_dir) if specs is None else specs)
        self.setup = list([migrate_spec(config)] if setup is None else setup)  # one-shot, in order
        self.cwd = cwd
        self._on_line = on_line
        self._running: dict[str, GroupProcess] = {}

    @property
    def api_url(self) -> str:
        return self.config.api_url

    @property
    def token(self) -> str:
        return self.config.secrets.api_token

    @property
    def portal_url(self) -> str:
        return self.config.portal_url

    @property
    def whatsapp_url(self) -> str:
        return self.config.whatsapp_url

    @property
    def meta_url(self) -> str:
        return self.config.meta_url

    @property
    def processes(self) -> dict[str, GroupProcess]:
        return dict(self._running)

    def log_path(self, name: str) -> Path:
        return self.run_dir / "logs" / f"{name}.log"

    def start(self, timeout: float = START_TIMEOUT) -> Self:
        """Run the setup commands, start every process and wait until all are ready; stop all on failure."""
        deadline = time.monotonic() + timeout
        for stale in ("logs", "prometheus"):  # earlier runs' output and multiprocess counters
            shutil.rmtree(self.run_dir / stale, ignore_errors=True)
        try:
            for spec in self.setup:
                self._run_to_completion(spec, deadline)
            for spec in self.specs:
                self._running[spec.name] = self._spawn(spec)
            self._wait_ready(deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM every process, SIGKILL what is left of their groups after `grace` seconds."""
        processes = list(self._running.values())
        for process in processes:
            process.terminate()
        deadline = time.monotonic() + grace
        survivors = [process for process in processes if not process.wait_group(deadline)]
        for process in survivors:
            process.signal_group(signal.SIGKILL)
            process.wait_group(time.monotonic() + 5)
        for process in processes:
            process.close()
        self._running.clear()

    def kill(self, name: str, sig: int = signal.SIGKILL, grace: float = STOP_GRACE) -> int | None:
        """Send `sig` to one process and wait until its whole group is gone (after `grace` seconds, what
        is left gets SIGKILL). SIGKILL goes to the whole group (a lost node: the process and its forks);
        any other signal to the process we started, as Kubernetes does (it tells its own children).
        Returns its exit code; `respawn(name)` starts it again."""
        process = self._running[name]
        if sig == signal.SIGKILL:
            process.signal_group(sig)
        elif process.popen.poll() is None:
            process.popen.send_signal(sig)
        if not process.wait_group(time.monotonic() + grace):
            process.signal_group(signal.SIGKILL)
            process.wait_group(time.monotonic() + 5)
        process.close()
        return process.returncode

    def respawn(self, name: str) -> GroupProcess:
        """Start one process again from its spec (its log goes on in the same file); the old one must
        have exited. Waits until it is ready, if its spec says how to tell."""
        old = self._running.get(name)
        if old is not None and old.group_alive():
            raise StackError(f"{name} is still running: kill it first")
        if old is not None:
            old.close()
        spec = next(spec for spec in self.specs if spec.name == name)
        self._running[name] = process = self._spawn(spec)
        deadline = time.monotonic() + START_TIMEOUT
        while not spec.is_ready():
            if process.returncode is not None:
                raise StackError(f"{name} exited while starting (exit {process.returncode}):\n{self.tail(name)}")
            if time.monotonic() >= deadline:
                raise StackError(f"{name} not ready in time:\n{self.tail(name)}")
            time.sleep(0.1)
        return process

    def exited(self) -> dict[str, int]:
        """Processes that have exited, with their return codes (a healthy stack has none)."""
        return {name: p.returncode for name, p in self._running.items() if p.returncode is not None}

    def wait(self, poll: float = 0.5) -> dict[str, int]:
        """Block until some process exits; return `exited()`."""
        while not self.exited():
            time.sleep(poll)
        return self.exited()

    def tail(self, name: str, lines: int = 40) -> str:
        return tail(self.log_path(name), lines)

    def tails(self, lines: int = 40) -> str:
        """The end of every process's log, for a failing test's report."""
        names = [spec.name for spec in [*self.setup, *self.specs]]
        return "\n".join(f"----- {name} ({self.log_path(name)}) -----\n{self.tail(name, lines)}" for name in names)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _spawn(self, spec: ProcessSpec) -> GroupProcess:
        env = {key: value for key, value in os.environ.items() if not key.startswith("FILAS_")}
        env |= {"PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}", "PYTHONUNBUFFERED": "1", **spec.env}
        try:
            return GroupProcess(spec.name, spec.argv, env, self.cwd, self.log_path(spec.name), self._on_line)
        except OSError as error:
            raise StackError(f"{spec.name}: cannot run {' '.join(spec.argv)}: {error}") from error

    def _run_to_completion(self, spec: ProcessSpec, deadline: float) -> None:
        process = self._spawn(spec)
        try:
            if not process.wait_group(deadline):
                raise StackError(f"{spec.name} did not finish in time:\n{self.tail(spec.name)}")
        finally:
            process.signal_group(signal.SIGKILL)
            process.close()
        if process.returncode != 0:
            raise StackError(f"{spec.name} failed (exit {process.returncode}):\n{self.tail(spec.name)}")

    def _wait_ready(self, deadline: float) -> None:
        pending = list(self.specs)
        while True:
            self._raise_if_exited()
            pending = [spec for spec in pending if not spec.is_ready()]
            if not pending:
                return
            if time.monotonic() >= deadline:
                names = ", ".join(spec.name for spec in pending)
                raise StackError(f"not ready in time: {names}\n{self.tails()}")
            time.sleep(0.1)

    def _raise_if_exited(self) -> None:
        exited = self.exited()
        if exited:
            summary = ", ".join(f"{name} (exit {code})" for name, code in exited.items())
            raise StackError(f"exited while starting: {summary}\n{self.tails()}")
