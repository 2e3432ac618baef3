"""A booking from the front end's request to the protocol, through every real part."""

import datetime as dt

import pytest
from scraped_metrics import sample, scrape
from sqlalchemy import select

from filas.db.models import Booking, BookingLog
from filas.db.session import session_scope

pytestmark = pytest.mark.chromium

TOMORROW = (dt.date.today() + dt.timedelta(days=1)).isoformat()


def booking(lote_id: str) -> dict:
    return {"lote_id": lote_id, "data_agendamento": TOMORROW, "hora_agendamento": "09:00",
            "transportadora": "Transportes Exemplo", "tipo_veiculo": "truck"}


def finished(body: dict) -> bool:
    return body["status"] in ("finished", "failed")


def booking_and_logs(booking_id: int, stack_database_url: str):
    with session_scope(stack_database_url) as session:
        row = session.get(Booking, booking_id)
        logs = session.scalars(select(BookingLog).where(BookingLog.booking_id == booking_id)
                               .order_by(BookingLog.id)).all()
        return row, [log.etapa for log in logs]


def test_a_booking_is_made_on_the_portal_and_its_protocol_reported(api, stack, portal_sim, stack_database_url):
    accepted = api.post("/portal/api/solicitar-agendamento-async", json=booking("LOTE-E2E-1"))
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()

    status = api.wait_until(body["status_url"], finished)

    assert status["status"] == "finished", status
    [made] = portal_sim.get("/_sim/bookings").json()
    assert made["lote"] == "LOTE-E2E-1"
    assert status["resultado"] == {"success": True, "protocolo": made["protocolo"], "message": "Agendamento realizado"}
    assert status["integracao"]["protocolo"] == made["protocolo"]
    assert status["iniciado_em"] and status["finalizado_em"]
    row, steps = booking_and_logs(body["integracao_id"], stack_database_url)
    assert (row.status, row.protocolo, row.job_id) == ("agendado", made["protocolo"], body["job_id"])
    assert steps[-1] == "concluido" and "formulario" in steps and "confirmacao" in steps
    assert "busca" not in steps  # nothing submitted before: no search of the portal's bookings list

    again = api.post("/portal/api/solicitar-agendamento-async", json=booking("LOTE-E2E-1"))
    assert again.status_code == 409
    assert len(portal_sim.get("/_sim/bookings").json()) == 1

    metrics = scrape(stack.config.portal_metrics_port)
    assert sample(metrics, "filas_jobs_succeeded_total", actor="portal.schedule_booking", queue="atacadao") >= 1
    assert sample(metrics, "filas_portal_bookings_total", outcome="booked") >= 1


def test_a_captcha_fails_the_booking_for_good_with_a_message(api, portal_sim, stack_database_url):
    portal_sim.post("/_sim/config", json={"captcha_lotes": ["LOTE-CAPTCHA"]}).raise_for_status()
    body = api.post("/portal/api/solicitar-agendamento-async", json=booking("LOTE-CAPTCHA")).json()

    status = api.wait_until(body["status_url"], finished)

    assert status["status"] == "failed"
    assert "CAPTCHA" in status["resultado"]["message"]
    assert status["tentativas"] == 0  # permanent: not retried
    assert portal_sim.get("/_sim/bookings").json() == []
    row, steps = booking_and_logs(body["integracao_id"], stack_database_url)
    assert row.status == "erro" and "CAPTCHA" in row.mensagem
    assert steps[-1] == "erro"


def test_a_portal_outage_is_retried_and_then_books_once(api, portal_sim):
    portal_sim.post("/_sim/config", json={"fail_next": 1}).raise_for_status()
    body = api.post("/portal/api/solicitar-agendamento-async", json=booking("LOTE-RETRY")).json()

    status = api.wait_until(body["status_url"], finished, timeout=180)

    assert status["status"] == "finished", status
    assert status["tentativas"] == 1
    assert [b["lote"] for b in portal_sim.get("/_sim/bookings").json()] == ["LOTE-RETRY"]
