"""The README's booking example, run as written (bash + curl) against the running system."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from waiting import wait_for

README = Path(__file__).resolve().parents[2] / "README.md"

pytestmark = pytest.mark.chromium


def shell_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.DOTALL)


def block_with(text: str) -> str:
    return next(block for block in shell_blocks() if text in block and "curl" in block)


def run(block: str, stack) -> dict:
    env = {**os.environ, "API": stack.api_url, "TOKEN": stack.token}
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", block], env=env, capture_output=True, text=True,
                            timeout=60, check=True)
    return json.loads(result.stdout)


def test_the_readme_booking_example_books_and_finishes(stack, portal_sim):
    accepted = run(block_with("solicitar-agendamento-async"), stack)
    assert accepted["success"] is True and accepted["job_id"]

    status_block = block_with("status-job/<job_id>").replace("<job_id>", accepted["job_id"])
    status = wait_for(lambda: (body := run(status_block, stack))["status"] in ("finished", "failed") and body,
                      120, "the README's booking ending")

    assert status["status"] == "finished", status
    assert status["resultado"]["protocolo"] == portal_sim.get("/_sim/bookings").json()[0]["protocolo"]


def test_the_readme_campaign_examples_run_as_written(stack, whatsapp_sim):
    created = run(block_with('"Busca ativa novembro"'), stack)
    assert created["sucesso"] is True and created["campanha"]["status"] == "rascunho"
    campaign = str(created["campanha"]["id"])

    imported = run(block_with("contatos\" -H").replace("<campanha_id>", campaign), stack)
    assert imported["importados"] == 1 and [row["linha"] for row in imported["rejeitados"]] == [3]

    for action in ("validar", "enviar"):
        started = run(block_with(f"/{action}\"").replace("<campanha_id>", campaign), stack)
        status_block = block_with("\"$API/api/task/<task_id>/status\"").replace("<task_id>", started["task_id"])
        ended = wait_for(lambda block=status_block: (body := run(block, stack))["status"] in
                         ("finished", "failed", "cancelled") and body, 120, f"the README's {action} ending")
        assert ended["status"] == "finished", ended
    received = {m["e164"]: m["text"] for m in whatsapp_sim.get("/_sim/messages").json()}
    assert received == {"5585999990001": "Olá, Maria! Sua consulta está disponível.",
                        "5585988880002": "Olá, José! Sua consulta está disponível.",
                        "5585988880003": "Olá, Ana! Sua consulta está disponível."}

    erased = run(block_with("dados-pessoais/apagar"), stack)
    assert erased["contatos_apagados"] == 1 and erased["opt_out"] is True
