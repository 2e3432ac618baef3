"""What the services write to their logs: no secret, no phone number, no patient name; JSON lines, each
line of a job naming the job."""

import datetime as dt
import json

import pytest
from test_campaign_flow import ended, start

pytestmark = pytest.mark.chromium

SERVICES = ("api", "portal-worker", "campaign-worker", "scheduler")
PATIENT = {"nome": "Francisca Ximenes", "telefone": "(85) 99911-2233"}


def test_logs_carry_no_secret_and_no_personal_data(api, stack, whatsapp_sim):
    whatsapp_sim.post("/_sim/config", json={"webhook_url": stack.config.webhook_url}).raise_for_status()
    booking = api.post("/portal/api/solicitar-agendamento-async", json={
        "lote_id": "LOTE-LOGS", "data_agendamento": (dt.date.today() + dt.timedelta(days=1)).isoformat(),
        "hora_agendamento": "10:00", "transportadora": "T", "tipo_veiculo": "truck"}).json()
    campaign_id = api.post("/api/campanhas", json={"nome": "Logs", "mensagem": "Olá",
                                                   "contatos": [PATIENT]}).json()["campanha"]["id"]
    api.wait_until(start(api, campaign_id, "validar")["status_url"], ended)
    api.wait_until(start(api, campaign_id, "enviar")["status_url"], ended)
    whatsapp_sim.post("/_sim/reply", json={"number": "5585999112233", "text": "SAIR"}).raise_for_status()
    api.wait_until(booking["status_url"], lambda body: body["status"] in ("finished", "failed"))

    logs = {name: stack.log_path(name).read_text() for name in SERVICES}
    secrets = stack.config.secrets
    forbidden = {
        "api token": secrets.api_token,
        "webhook token": secrets.webhook_token,
        "portal password": secrets.portal_password,
        "evolution api key": secrets.evolution_api_key,
        "phone number": "99911-2233",
        "phone number (E.164)": "5585999112233",
        "patient name": "Ximenes",
    }
    leaks = [f"{what} in {name}" for name, text in logs.items() for what, value in forbidden.items() if value in text]
    assert leaks == []
    assert "webhooks/evolution" in logs["api"]  # the webhook call was logged, without its secret


def json_lines(text: str) -> list[dict]:
    """The JSON objects among a log's lines (the dramatiq CLI's parent process keeps its own format)."""
    found = []
    for line in text.splitlines():
        try:
            found.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return found


def test_services_write_json_lines_and_a_jobs_lines_name_the_job(api, stack):
    booking = api.post("/portal/api/solicitar-agendamento-async", json={
        "lote_id": "LOTE-JSON-LOGS", "data_agendamento": (dt.date.today() + dt.timedelta(days=1)).isoformat(),
        "hora_agendamento": "11:00", "transportadora": "T", "tipo_veiculo": "truck"}).json()
    api.wait_until(booking["status_url"], lambda body: body["status"] in ("finished", "failed"))

    worker_lines = json_lines(stack.log_path("portal-worker").read_text())
    of_the_job = [line for line in worker_lines if line.get("job_id") == booking["job_id"]]
    assert of_the_job, "no line of the portal worker names the booking's job"
    assert {(line["actor"], line["queue"]) for line in of_the_job} == {("portal.schedule_booking", "atacadao")}
    access = [line for line in json_lines(stack.log_path("api").read_text())
              if line["logger"] == "gunicorn.access" and "solicitar-agendamento-async" in line["message"]]
    assert access and {"time", "level", "process"} <= set(access[0])
