"""A worker killed with SIGKILL mid-job (OOM, node loss): its job is redelivered to another worker
within seconds, not the many minutes of Dramatiq's defaults (see notes/dramatiq-2.md)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from filas import contracts
from filas.db.models import Campanha, CampanhaStatus, Contato
from filas.db.session import session_scope
from filas_simulators.serving import serve_in_thread
from filas_simulators.whatsapp import create_app

BIN = Path(sys.executable).parent


def start_worker(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "dramatiq"), "filas_campaigns.worker", "--processes", "1", "--threads", "1"],
                            env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for(check, timeout: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {timeout} s")


@pytest.fixture
def gateway():
    with serve_in_thread(create_app(api_key="k", instance="filas")) as server:
        yield server


def test_a_killed_workers_job_is_redelivered_to_another_worker(configure, redis_url, database_url, gateway):
    import httpx

    configure(FILAS_REDIS_URL=redis_url, FILAS_DATABASE_URL=database_url)
    from filas.broker import get_job_store
    from filas.enqueue import send

    env = {**os.environ, "FILAS_REDIS_URL": redis_url, "FILAS_DATABASE_URL": database_url,
           "FILAS_EVOLUTION_URL": gateway.url, "FILAS_EVOLUTION_API_KEY": "k", "FILAS_GATEWAY_TIMEOUT_SECONDS": "120",
           "dramatiq_prom_port": "0"}
    httpx.post(f"{gateway.url}/_sim/config", json={"latency_ms": 60_000}).raise_for_status()  # the job hangs
    with session_scope() as session:
        campanha = Campanha(nome="c", mensagem="m", status=CampanhaStatus.VALIDANDO,
                            contatos=[Contato(nome="p", telefone="5585999990001")])
        session.add(campanha)
        session.flush()
        message = contracts.VALIDATE_NUMBERS.message(campanha_id=campanha.id)
        campanha.validacao_job_id = message.message_id
    first = start_worker(env)
    second = None
    try:
        send(message)
        store = get_job_store()
        wait_for(lambda: store.get(message.message_id).status == "started", 60, "the first worker starting the job")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        httpx.post(f"{gateway.url}/_sim/config", json={"latency_ms": 0}).raise_for_status()
        second = start_worker(env)

        elapsed = wait_for(lambda: store.get(message.message_id).status == "finished", 180,
                           "redelivery to the second worker")
    finally:
        for process in (first, second):
            if process and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    print(f"\nredelivered and finished {elapsed:.1f} s after kill -9")
    with session_scope() as session:
        assert session.get(Campanha, campanha.id).status == CampanhaStatus.VALIDADA
