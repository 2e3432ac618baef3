"""Evidence of failed booking attempts through every real part (API, Redis, PostgreSQL, the portal worker's
Chromium, the portal simulator): listed by the API for the integration, a real JPEG screenshot, the page's HTML
as plain text with the portal's words and without the portal password, within the default size limit."""

import httpx
import pytest
from jpeg import jpeg_dimensions
from rows import accepted_booking
from test_booking_errors import book, seed_example
from test_booking_flow import finished

from filas.settings import Settings

pytestmark = pytest.mark.chromium

MAX_BYTES = Settings().portal_evidence_max_bytes


def evidence_of(api, booking_id: int) -> list[dict]:
    response = api.get(f"/portal/api/integracoes/{booking_id}/evidencias")
    assert response.status_code == 200, response.text
    return response.json()["evidencias"]


def files_of(api, item: dict) -> tuple[httpx.Response, httpx.Response]:
    return api.http.get(item["screenshot_url"]), api.http.get(item["html_url"])


def test_a_booking_failed_for_good_has_its_screenshot_and_html(api, portal_sim, stack):
    status = book(api, seed_example(lote_id="LOTE-EVIDENCIA", tipo_veiculo="99"))
    assert status["status"] == "failed", status

    [item] = evidence_of(api, status["integracao"]["id"])
    screenshot, html = files_of(api, item)

    assert (item["job_id"], item["tentativa"], item["etapa"]) == (status["job_id"], 1, "formulario")
    assert item["erro"] == status["resultado"]["message"]
    assert screenshot.headers["content-type"] == "image/jpeg"
    assert jpeg_dimensions(screenshot.content)[0] > 0
    assert html.headers["content-type"].startswith("text/plain")
    assert html.headers["content-disposition"].startswith("attachment;")
    assert "Novo agendamento de entrega" in html.text and 'id="tipo_veiculo"' in html.text
    assert stack.config.secrets.portal_password not in html.text
    assert (item["screenshot_bytes"], item["html_bytes"]) == (len(screenshot.content), len(html.content))
    assert 0 < item["screenshot_bytes"] <= MAX_BYTES and 0 < item["html_bytes"] <= MAX_BYTES


def test_a_retried_attempt_keeps_the_login_page_it_was_sent_back_to_without_the_password(
        api, portal_sim, stack, stack_database_url, enqueue_by_name):
    portal_sim.post("/_sim/config", json={"expire_sessions_on_submit": 1}).raise_for_status()
    booking_id, message = accepted_booking("LOTE-EVIDENCIA-RETRY", stack_database_url)
    enqueue_by_name(message.copy(options={"min_backoff": 100, "max_backoff": 1000}))  # a quick retry

    status = api.wait_until(f"/portal/api/status-job/{message.message_id}", finished)
    assert status["status"] == "finished", status

    [item] = evidence_of(api, booking_id)  # the first attempt's; the second booked
    _, html = files_of(api, item)
    assert (item["tentativa"], item["etapa"]) == (1, "formulario")
    assert item["erro"] == "A sessão do portal expirou durante o envio; o agendamento não foi feito."
    assert 'id="form-login"' in html.text and 'type="password"' in html.text
    assert stack.config.secrets.portal_password not in html.text


def test_unknown_evidence_is_404(api):
    assert api.get("/portal/api/evidencias/2147483647/html").status_code == 404
    assert api.get("/portal/api/integracoes/2147483647/evidencias").status_code == 404
