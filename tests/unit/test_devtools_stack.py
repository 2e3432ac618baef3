"""stack.py: the commands and environment of the local system, and the process machinery behind them.

The machinery is tested with small stand-in programs; the last tests use the `stack` fixture (the
real system on a real Redis and PostgreSQL, shared with the end-to-end tests).
"""

import signal
import sys
import textwrap
from pathlib import Path

import pytest

from filas_devtools.ports import free_port, http_status, port_in_use, wait_until
from filas_devtools.process_group import group_members
from filas_devtools.stack import (
    VENV_BIN,
    ProcessSpec,
    Secrets,
    Stack,
    StackConfig,
    StackError,
    migrate_spec,
    process_specs,
    service_env,
)

PY = sys.executable

# An HTTP server that answers 503 for its first half second, then 200; it forks a child that
# outlives nothing (it must die with the group).
STAND_IN_SERVER = textwrap.dedent(
    """
    import http.server, os, subprocess, sys, time
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    started = time.monotonic()
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if time.monotonic() - started > 0.5 else 503)
            self.end_headers()
        def log_message(self, *args):
            pass
    print("serving", flush=True)
    http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
    """
)
PRINT_ENV = "import os, time; print('FILAS_STRAY=' + os.environ.get('FILAS_STRAY', '-')); " \
    "print('FILAS_REDIS_URL=' + os.environ['FILAS_REDIS_URL']); " \
    "print('PATH0=' + os.environ['PATH'].split(os.pathsep)[0]); " \
    "time.sleep(600)"


@pytest.fixture
def config() -> StackConfig:
    return StackConfig.with_free_ports("redis://127.0.0.1:1/0", "sqlite:///unused.db")


@pytest.fixture
def server_script(tmp_path: Path) -> Path:
    script = tmp_path / "server.py"
    script.write_text(STAND_IN_SERVER)
    return script


def _by_name(specs):
    return {spec.name: spec for spec in specs}


def test_the_processes_run_the_agreed_commands(config, tmp_path):
    specs = _by_name(process_specs(config, tmp_path))
    host = "127.0.0.1"
    assert list(specs) == ["portal-sim", "whatsapp-sim", "api", "portal-worker", "campaign-worker", "scheduler"]
    assert list(specs["api"].argv) == [
        "gunicorn", "-c", "python:filas_api.gunicorn_conf", "--bind", f"{host}:{config.api_port}", "filas_api.wsgi:app"
    ]
    assert list(specs["portal-worker"].argv) == [
        "dramatiq", "filas_portal.worker", "--processes", "1", "--threads", "2"
    ]
    assert list(specs["campaign-worker"].argv) == [
        "dramatiq", "filas_campaigns.worker", "--processes", "1", "--threads", "4"
    ]
    assert list(specs["scheduler"].argv) == ["filas-scheduler"]
    assert list(specs["portal-sim"].argv) == [
        "python", "-m", "filas_simulators.portal", "--host", host, "--port", str(config.portal_sim_port)
    ]
    assert list(specs["whatsapp-sim"].argv) == [
        "python", "-m", "filas_simulators.whatsapp", "--host", host, "--port", str(config.whatsapp_sim_port),
        "--instance", "filas",
    ]
    assert list(migrate_spec(config).argv) == ["filas-migrate"]


def test_services_share_one_environment_that_points_at_the_simulators(config, tmp_path):
    specs = _by_name(process_specs(config, tmp_path))
    s = config.secrets
    expected = {
        "FILAS_REDIS_URL": config.redis_url,
        "FILAS_DATABASE_URL": config.database_url,
        "FILAS_API_TOKENS": s.api_token,
        "FILAS_WEBHOOK_TOKEN": s.webhook_token,
        "FILAS_PORTAL_URL": f"http://127.0.0.1:{config.portal_sim_port}",
        "FILAS_PORTAL_USERNAME": s.portal_username,
        "FILAS_PORTAL_PASSWORD": s.portal_password,
        "FILAS_EVOLUTION_URL": f"http://127.0.0.1:{config.whatsapp_sim_port}",
        "FILAS_EVOLUTION_API_KEY": s.evolution_api_key,
        "FILAS_EVOLUTION_INSTANCE": "filas",
        "FILAS_CHROMIUM_PATH": "",
        "FILAS_LOG_LEVEL": "INFO",
        "FILAS_LOG_FORMAT": "json",
    }
    assert service_env(config) == expected
    for name in ("api", "portal-worker", "campaign-worker", "scheduler"):
        assert expected.items() <= specs[name].env.items(), name
    assert specs["portal-sim"].env["FILAS_SIM_PORTAL_USERNAME"] == s.portal_username
    assert specs["portal-sim"].env["FILAS_SIM_PORTAL_PASSWORD"] == s.portal_password
    assert specs["whatsapp-sim"].env["FILAS_SIM_EVOLUTION_API_KEY"] == s.evolution_api_key
    assert specs["api"].ready_url == f"{config.api_url}/readyz" and specs["api"].ready_status == 200


def test_no_two_local_services_share_metrics(config, tmp_path):
    specs = _by_name(process_specs(config, tmp_path))
    served = [specs[name].env for name in ("portal-worker", "campaign-worker", "scheduler")]
    assert len({env["FILAS_METRICS_PORT"] for env in served}) == 3
    assert len({specs[name].env["FILAS_METRICS_DIR"] for name in ("api", "portal-worker", "campaign-worker")}) == 3
    assert {env["FILAS_METRICS_HOST"] for env in served} == {"127.0.0.1"}


def test_developer_settings_pass_through_but_never_override_the_stack(tmp_path):
    config = StackConfig.with_free_ports(
        "redis://127.0.0.1:1/0", "sqlite:///x.db",
        extra_env={"FILAS_PORTAL_TIMEOUT_MS": "5000", "FILAS_REDIS_URL": "redis://elsewhere:6379/0"},
    )
    env = service_env(config)
    assert env["FILAS_PORTAL_TIMEOUT_MS"] == "5000"
    assert env["FILAS_REDIS_URL"] == "redis://127.0.0.1:1/0"


def test_secrets_are_random_per_run():
    first, second = Secrets.generate(), Secrets.generate()
    assert first.api_token != second.api_token and len(first.api_token) >= 24
    assert first.webhook_token != second.webhook_token and first.webhook_token != first.api_token
    assert first.portal_password != second.portal_password
    assert first.evolution_api_key != second.evolution_api_key


def test_stack_runs_setup_waits_for_readiness_logs_output_and_stops_every_process(
    config, server_script, tmp_path, monkeypatch
):
    monkeypatch.setenv("FILAS_STRAY", "from the parent")  # inherited FILAS_* must not leak in
    port = free_port()
    lines = []
    stack = Stack(
        config, tmp_path / "run",
        setup=[ProcessSpec("migrate", [PY, "-c", "print('migrated')"], {})],
        specs=[
            ProcessSpec("server", [PY, str(server_script), str(port)], {}, f"http://127.0.0.1:{port}/readyz", 200),
            ProcessSpec("worker", [PY, "-c", PRINT_ENV], service_env(config)),
        ],
        on_line=lambda name, line: lines.append((name, line)),
    )
    with stack:
        assert http_status(f"http://127.0.0.1:{port}/readyz") == 200
        assert "migrated" in stack.tail("migrate")
        wait_until(lambda: "PATH0=" in stack.tail("worker"), 10, "worker output")
        log = stack.tail("worker")
        assert "FILAS_STRAY=-" in log
        assert f"FILAS_REDIS_URL={config.redis_url}" in log
        assert f"PATH0={VENV_BIN}" in log
        assert ("migrate", "migrated") in lines and ("server", "serving") in lines
        groups = [process.pgid for process in stack.processes.values()]
        assert len(group_members(groups[0])) == 2  # the server and the child it forked
        assert stack.exited() == {}
    assert not any(group_members(pgid) for pgid in groups)
    assert not port_in_use(port)
    assert stack.processes == {}


def test_a_process_that_dies_while_starting_fails_the_start_at_once_with_its_log(config, tmp_path):
    stack = Stack(
        config, tmp_path,
        setup=[],
        specs=[
            ProcessSpec("api", [PY, "-c", "import time; time.sleep(600)"], {}, "http://127.0.0.1:1/readyz", 200),
            ProcessSpec("worker", [PY, "-c", "print('boom: bad settings'); raise SystemExit(3)"], {}),
        ],
    )
    # A start that waited for its deadline instead would outlast pytest-timeout and fail this test.
    with pytest.raises(StackError, match=r"(?s)worker \(exit 3\).*boom: bad settings"):
        stack.start(timeout=3600)
    assert stack.processes == {}


def test_a_failing_setup_command_starts_nothing(config, tmp_path):
    stack = Stack(
        config, tmp_path,
        setup=[ProcessSpec("migrate", [PY, "-c", "print('no database'); raise SystemExit(1)"], {})],
        specs=[ProcessSpec("worker", [PY, "-c", "import time; time.sleep(600)"], {})],
    )
    with pytest.raises(StackError, match=r"(?s)migrate failed \(exit 1\).*no database"):
        stack.start()
    assert not stack.log_path("worker").exists()


def test_a_missing_program_is_a_clear_error(config, tmp_path):
    stack = Stack(config, tmp_path, setup=[], specs=[ProcessSpec("ghost", ["no-such-program-xyz"], {})])
    with pytest.raises(StackError, match="ghost: cannot run no-such-program-xyz"):
        stack.start()


def test_readiness_has_a_deadline(config, tmp_path):
    stack = Stack(
        config, tmp_path, setup=[],
        specs=[ProcessSpec("api", [PY, "-c", "import time; time.sleep(600)"], {}, f"http://127.0.0.1:{free_port()}/")],
    )
    with pytest.raises(StackError, match="not ready in time: api"):
        stack.start(timeout=1)
    assert stack.processes == {}


def test_stop_kills_what_ignores_sigterm(config, tmp_path):
    ignore_term = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); " \
        "time.sleep(600)"
    stack = Stack(config, tmp_path, setup=[], specs=[ProcessSpec("stubborn", [PY, "-c", ignore_term], {})])
    stack.start()
    wait_until(lambda: "up" in stack.tail("stubborn"), 10, "stubborn process")
    process = stack.processes["stubborn"]
    stack.stop(grace=0.5)
    assert process.returncode == -signal.SIGKILL
    assert not group_members(process.pgid)


def test_the_stack_fixture_runs_the_real_system(stack):
    assert http_status(f"{stack.api_url}/readyz") == 200
    assert http_status(stack.portal_url) is not None and http_status(stack.whatsapp_url) is not None
    assert "database is at the latest migration" in stack.tail("migrate")
    assert stack.config.webhook_url == (
        f"{stack.api_url}/api/webhooks/evolution?token={stack.config.secrets.webhook_token}"
    )
    assert stack.exited() == {}


def test_each_local_worker_and_the_scheduler_serve_their_own_metrics(stack):
    for port in (stack.config.portal_metrics_port, stack.config.campaign_metrics_port,
                 stack.config.scheduler_metrics_port):
        wait_until(lambda port=port: http_status(f"http://127.0.0.1:{port}/") == 200, 60, f"metrics on {port}")
