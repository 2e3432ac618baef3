"""`make run`: the whole of Filas on this machine, until Ctrl-C.

Starts a throwaway Redis, PostgreSQL (SQLite under .local-run/ when PostgreSQL is not installed),
the simulators and the four services (stack.py), streams their output with a coloured prefix and
prints how to call the API. Ctrl-C or SIGTERM stops everything it started.

Environment: FILAS_API_PORT (8000), FILAS_SIM_PORTAL_PORT (8101), FILAS_SIM_WHATSAPP_PORT (8102),
FILAS_WHATSAPP_GATEWAY=meta (campaigns through the WhatsApp Cloud API simulator, FILAS_SIM_META_PORT 8103, whose
signed webhooks go to the API),
FILAS_CHROMIUM_PATH, FILAS_LOG_LEVEL, FILAS_LOG_FORMAT (plain), FILAS_LOCAL_RUN_DIR (.local-run: logs, SQLite file),
FILAS_LOCAL_RUN_DB=sqlite (SQLite even where PostgreSQL is installed);
other FILAS_* settings are passed to the services.
"""

import contextlib
import datetime
import json
import os
import signal
import sys
import threading
import urllib.request
from pathlib import Path

from honcho.colour import get_colours
from honcho.printer import Message, Printer

from filas_devtools.chromium import (
    Chromium,
    ChromiumMissing,
    find_chromium,
    install_playwright_chromium,
)
from filas_devtools.ports import free_port, port_in_use
from filas_devtools.postgres_server import PostgresNotFound, PostgresServer
from filas_devtools.redis_server import RedisServer
from filas_devtools.stack import (
    REPO_ROOT,
    Stack,
    StackConfig,
    StackError,
    process_specs,
)

LOCAL_DIR = Path(os.environ.get("FILAS_LOCAL_RUN_DIR") or REPO_ROOT / ".local-run")
SELF = "filas"  # prefix of this launcher's own lines


class Interrupted(Exception):
    pass


class Output:
    """One line per message, prefixed `HH:MM:SS name |` in the process's colour (honcho's format).

    Writing never raises: a closed terminal must not keep the clean-up from running.
    """

    def __init__(self, names: list[str]):
        self._printer = Printer(sys.stdout, width=max(map(len, names)))
        self._colours = dict(zip(names, get_colours(), strict=False))
        self._lock = threading.Lock()  # one reader thread per process writes here

    def line(self, name: str, text: str) -> None:
        message = Message("line", text or " ", datetime.datetime.now(), name, self._colours.get(name))
        self._write(lambda: self._printer.write(message))

    def say(self, text: str) -> None:
        for line in text.splitlines() or [""]:
            self.line(SELF, line)

    def raw(self, text: str) -> None:
        """Unprefixed, so that commands can be copied and pasted."""
        self._write(lambda: print(text, flush=True))

    def _write(self, write) -> None:
        with self._lock, contextlib.suppress(OSError, ValueError):
            write()


def main() -> int:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    cleanup = contextlib.ExitStack()
    specs = process_specs(StackConfig(redis_url="", database_url="", extra_env=_developer_settings()), LOCAL_DIR)
    output = Output([SELF, "migrate", *(spec.name for spec in specs)])
    try:
        return _run(cleanup, output)
    except Interrupted:
        return 0
    except (StackError, ChromiumMissing, OSError, RuntimeError) as error:
        output.say(f"cannot run Filas: {error}")
        return 1
    finally:
        _ignore_signals()
        output.say("stopping everything")
        cleanup.close()
        output.say("stopped")


def _run(cleanup: contextlib.ExitStack, output: Output) -> int:
    LOCAL_DIR.mkdir(exist_ok=True)
    ports = _ports()
    chromium = _choose_chromium(output)
    output.say(f"chromium: {chromium.description}")
    redis = cleanup.enter_context(RedisServer())
    output.say(f"redis: {redis.url} ({redis.binary})")
    database_url = _database(cleanup, output)
    config = StackConfig(
        redis.url, database_url, **ports,
        chromium_path=chromium.executable_path or "",
        log_level=os.environ.get("FILAS_LOG_LEVEL", "INFO"),
        log_format=os.environ.get("FILAS_LOG_FORMAT", "plain"),
        extra_env=_developer_settings(),
    )
    stack = Stack(config, LOCAL_DIR, on_line=output.line)
    cleanup.callback(stack.stop)
    stack.start()
    _send_replies_to_the_api(stack, output)
    output.raw(banner(stack, database_url))
    exited = stack.wait()
    output.say("exited unexpectedly: " + ", ".join(f"{name} (exit {code})" for name, code in exited.items()))
    return 1


def _developer_settings() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key.startswith("FILAS_")}


def _ports() -> dict[str, int]:
    ports = {
        "api_port": _port("FILAS_API_PORT", 8000),
        "portal_sim_port": _port("FILAS_SIM_PORTAL_PORT", 8101),
        "whatsapp_sim_port": _port("FILAS_SIM_WHATSAPP_PORT", 8102),
    }
    if StackConfig("", "", extra_env=_developer_settings()).uses_meta:
        ports["meta_sim_port"] = _port("FILAS_SIM_META_PORT", 8103)
    for name, preferred in (("portal_metrics_port", 9191), ("campaign_metrics_port", 9192),
                            ("scheduler_metrics_port", 9193)):
        ports[name] = free_port() if port_in_use(preferred) else preferred
    return ports


def _port(variable: str, default: int) -> int:
    port = int(os.environ.get(variable) or default)
    if port_in_use(port):
        raise StackError(f"port {port} is already in use: stop what uses it or set {variable}")
    return port


def _choose_chromium(output: Output) -> Chromium:
    try:
        return find_chromium()
    except ChromiumMissing as missing:
        output.say(f"{missing}\ntrying `playwright install chromium` once")
        installed, log = install_playwright_chromium()
        output.say(log.strip())
        if not installed:
            raise ChromiumMissing(f"{missing} (`playwright install chromium` failed too)") from missing
    try:
        return find_chromium()
    except ChromiumMissing:
        return Chromium(None, "Playwright's own Chromium (just installed)")


def _database(cleanup: contextlib.ExitStack, output: Output) -> str:
    try:
        if os.environ.get("FILAS_LOCAL_RUN_DB") == "sqlite":
            raise PostgresNotFound("FILAS_LOCAL_RUN_DB=sqlite")
        postgres = cleanup.enter_context(PostgresServer())
    except PostgresNotFound as missing:
        sqlite = LOCAL_DIR / "filas.db"
        for stale in (sqlite, sqlite.with_name("filas.db-wal"), sqlite.with_name("filas.db-shm")):
            stale.unlink(missing_ok=True)  # a fresh database, like the fresh Redis
        output.say(f"{missing}\nusing SQLite instead: {sqlite}")
        return f"sqlite:///{sqlite}"
    output.say(f"postgresql: {postgres.url} ({postgres.bindir})")
    return postgres.url


def _send_replies_to_the_api(stack: Stack, output: Output) -> None:
    """Point the WhatsApp simulators' webhooks at the API, so that a simulated reply (and, from the Cloud API
    simulator, each message's delivery statuses) reaches Filas."""
    simulators = [("WhatsApp", stack.whatsapp_url, stack.config.webhook_url)]
    if stack.config.uses_meta:
        simulators.append(("Cloud API", stack.meta_url, stack.config.meta_webhook_url))
    for name, url, webhook_url in simulators:
        body = json.dumps({"webhook_url": webhook_url}).encode()
        request = urllib.request.Request(f"{url}/_sim/config", body, {"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except OSError as error:
            output.say(f"could not set the {name} simulator's webhook: {error}")


def banner(stack: Stack, database_url: str) -> str:
    tomorrow = (datetime.date.today() + datetime.timedelta(days=1)).isoformat()
    body = (
        f'{{"lote_id": "LOTE-001", "data_agendamento": "{tomorrow}", "hora_agendamento": "09:00", '
        f'"transportadora": "Transportes Exemplo", "tipo_veiculo": "truck"}}'
    )
    return f"""
Filas is running.
  API                 {stack.api_url}
  API token           {stack.token}
  operations page     {stack.api_url}/ops/ (log in with the API token)
  portal simulator    {stack.portal_url}
  WhatsApp simulator  {stack.whatsapp_url}{_meta_line(stack)}
  worker metrics      http://127.0.0.1:{stack.config.portal_metrics_port} (portal), \
http://127.0.0.1:{stack.config.campaign_metrics_port} (campaigns)
  scheduler metrics   http://127.0.0.1:{stack.config.scheduler_metrics_port}
  database            {database_url}
  logs                {stack.run_dir / "logs"}

Book a load:
  export API={stack.api_url} TOKEN={stack.token}
  curl -s -X POST "$API/portal/api/solicitar-agendamento-async" -H "Authorization: Bearer $TOKEN" \
-H "Content-Type: application/json" -d '{body}'
Follow it (job_id from the answer):
  curl -s "$API/portal/api/status-job/<job_id>" -H "Authorization: Bearer $TOKEN"
A patient's reply, through the WhatsApp simulator to the API's webhook:
  curl -s -X POST "{stack.whatsapp_url}/_sim/reply" -H "Content-Type: application/json" \
-d '{{"number": "5585999990000", "text": "SAIR"}}'

Ctrl-C stops everything.
"""


def _meta_line(stack: Stack) -> str:
    if not stack.config.uses_meta:
        return ""
    return (f"\n  Cloud API simulator {stack.meta_url} (FILAS_WHATSAPP_GATEWAY=meta: campaigns go here; "
            f"phone number id {stack.config.meta_phone_number_id}, messages at {stack.meta_url}/_sim/messages)")


def _interrupt(signum, frame) -> None:
    _ignore_signals()  # one signal is enough: the rest must not interrupt the clean-up
    raise Interrupted(signal.Signals(signum).name)


def _ignore_signals() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)


if __name__ == "__main__":
    sys.exit(main())
