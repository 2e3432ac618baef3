"""`make run` (filas_devtools.local_run): it starts the whole system, says how to use it, and a signal
stops everything it started."""

import datetime as dt
import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from filas_devtools import local_run
from filas_devtools.ports import free_port, http_status, port_in_use
from filas_devtools.process_group import group_members
from filas_devtools.stack import Stack, StackConfig

START_SECONDS = 180  # the whole system, on a loaded 2-vCPU machine


def test_the_banner_gives_the_url_the_token_and_curl_commands_to_book_and_follow(tmp_path):
    stack = Stack(StackConfig("redis://x", "sqlite://", api_port=8000), tmp_path)
    text = local_run.banner(stack, "sqlite://")
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    assert "http://127.0.0.1:8000" in text and stack.token in text
    [book] = [line.strip() for line in text.splitlines() if "solicitar-agendamento-async" in line]
    assert book.startswith('curl -s -X POST "$API/portal/api/solicitar-agendamento-async" ')
    assert f'"data_agendamento": "{tomorrow}"' in book and '"lote_id": "LOTE-001"' in book
    assert '"hora_agendamento": "09:00"' in book and '"tipo_veiculo": "truck"' in book
    assert 'curl -s "$API/portal/api/status-job/<job_id>" -H "Authorization: Bearer $TOKEN"' in text


def test_output_prefixes_each_line_with_the_process_name(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    output = local_run.Output(["filas", "campaign-worker"])
    output.line("campaign-worker", "ready")
    output.say("two\nlines")
    lines = out.getvalue().splitlines()
    assert re.fullmatch(r"\d\d:\d\d:\d\d campaign-worker \| ready", lines[0])
    assert lines[1].endswith("filas           | two") and lines[2].endswith("| lines")


def test_a_closed_terminal_does_not_break_the_output(monkeypatch):
    terminal = io.StringIO()
    monkeypatch.setattr(sys, "stdout", terminal)
    output = local_run.Output(["filas"])
    terminal.close()
    output.say("nobody reads this")


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX"
    except FileNotFoundError:
        return False


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _wait_for(log: Path, text: str, process: subprocess.Popen) -> str:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        output = log.read_text(errors="replace")
        if text in output:
            return output
        assert process.poll() is None, f"local_run exited ({process.returncode}):\n{output[-5000:]}"
        time.sleep(0.2)
    raise AssertionError(f"no {text!r} after {START_SECONDS} s:\n{log.read_text()[-5000:]}")


def _stop_for_good(process: subprocess.Popen) -> None:
    """After a failed assertion: SIGTERM lets local_run stop what it started (its children are in
    sessions of their own, which a SIGKILL to local_run would leave running)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.mark.chromium
@pytest.mark.parametrize(
    ("stop_signal", "database"),
    [(signal.SIGINT, "postgresql"), (signal.SIGTERM, "sqlite")],
    ids=["ctrl-c-postgresql", "sigterm-sqlite"],
)
def test_make_run_starts_everything_and_a_signal_stops_all_of_it(stop_signal, database, tmp_path):
    api_port = free_port()
    env = {
        **os.environ,
        "FILAS_API_PORT": str(api_port),
        "FILAS_SIM_PORTAL_PORT": str(free_port()),
        "FILAS_SIM_WHATSAPP_PORT": str(free_port()),
        "FILAS_LOCAL_RUN_DIR": str(tmp_path / "local-run"),
        "FILAS_LOCAL_RUN_DB": database,
    }
    log = tmp_path / "make-run.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "filas_devtools.local_run"], env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output = _wait_for(log, "Ctrl-C stops everything.", process)
        assert http_status(f"http://127.0.0.1:{api_port}/readyz") == 200
        assert ("postgresql: postgresql+psycopg://" in output) == (database == "postgresql")
        redis_port = int(re.search(r"redis: redis://127\.0\.0\.1:(\d+)", output)[1])
        started = _descendants(process.pid)
        process.send_signal(stop_signal)
        assert process.wait(60) == 0, log.read_text()[-5000:]
    finally:
        _stop_for_good(process)
    assert "stopped" in log.read_text().splitlines()[-1]
    assert started and not [pid for pid in started if _alive(pid) or group_members(pid)]
    assert not port_in_use(api_port) and not port_in_use(redis_port)
    if database == "postgresql":
        pg_port = int(re.search(r"postgresql\+psycopg://filas@127\.0\.0\.1:(\d+)", output)[1])
        assert not port_in_use(pg_port)
