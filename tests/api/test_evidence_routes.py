"""A failed attempt's evidence as the API and the operations page serve it, in-process: metadata listed per
integration, the screenshot as a JPEG, the HTML only ever as a plain-text attachment (never rendered in our
origin), 404 for unknown ids, the bearer token for the API and the session cookie for the operations page."""

import pytest
from rows import accepted_booking
from test_ops_auth import log_in

from filas.db.models import BookingEvidence
from filas.db.session import session_scope

AUTH = {"Authorization": "Bearer test-token"}
JPEG = b"\xff\xd8\xff\xe0 a tiny stand-in \xff\xd9"
PORTAL_PAGE = '<html><body><h2>Novo agendamento</h2><script>alert("xss")</script></body></html>'


@pytest.fixture
def evidence(client) -> tuple[int, int]:
    """An integration with one kept failure; (integration id, evidence id)."""
    booking_id, message = accepted_booking("LOTE-EVIDENCIA")
    with session_scope() as session:
        row = BookingEvidence(booking_id=booking_id, job_id=message.message_id, tentativa=1, etapa="formulario",
                              erro="O portal não oferece tipo de veículo '99'.", url="http://portal/agendamentos/novo",
                              screenshot=JPEG, html=PORTAL_PAGE, screenshot_bytes=len(JPEG),
                              html_bytes=len(PORTAL_PAGE), html_truncado=False)
        session.add(row)
        session.flush()
        return booking_id, row.id


def test_an_integrations_evidence_is_listed_with_its_metadata_and_links(client, evidence):
    booking_id, evidence_id = evidence

    body = client.get(f"/portal/api/integracoes/{booking_id}/evidencias", headers=AUTH).get_json()

    [item] = body["evidencias"]
    assert body["success"] is True and body["integracao_id"] == booking_id
    assert (item["id"], item["tentativa"], item["etapa"]) == (evidence_id, 1, "formulario")
    assert item["erro"] == "O portal não oferece tipo de veículo '99'."
    assert (item["screenshot_bytes"], item["html_bytes"], item["html_truncado"]) == (len(JPEG), len(PORTAL_PAGE),
                                                                                    False)
    assert item["screenshot_url"].endswith(f"/portal/api/evidencias/{evidence_id}/screenshot")
    assert item["html_url"].endswith(f"/portal/api/evidencias/{evidence_id}/html")


def test_the_screenshot_is_served_as_a_jpeg(client, evidence):
    response = client.get(f"/portal/api/evidencias/{evidence[1]}/screenshot", headers=AUTH)

    assert (response.status_code, response.mimetype, response.data) == (200, "image/jpeg", JPEG)
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_html_is_a_plain_text_attachment_never_a_page_of_ours(client, evidence):
    response = client.get(f"/portal/api/evidencias/{evidence[1]}/html", headers=AUTH)

    assert (response.status_code, response.mimetype) == (200, "text/plain")
    assert response.get_data(as_text=True) == PORTAL_PAGE
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]


def test_unknown_ids_are_404_and_every_route_needs_the_token(client, evidence):
    booking_id, evidence_id = evidence
    routes = [f"/portal/api/integracoes/{booking_id}/evidencias", f"/portal/api/evidencias/{evidence_id}/html",
              f"/portal/api/evidencias/{evidence_id}/screenshot"]

    assert [client.get(route).status_code for route in routes] == [401, 401, 401]
    unknown = ["/portal/api/integracoes/999999/evidencias", "/portal/api/evidencias/999999/html",
               "/portal/api/evidencias/999999/screenshot", "/portal/api/evidencias/0/html"]
    for route in unknown:
        response = client.get(route, headers=AUTH)
        assert response.status_code == 404 and response.get_json()["success"] is False, route


def test_the_operations_pages_job_detail_links_to_files_it_serves_behind_its_session(client, evidence):
    _, evidence_id = evidence
    with session_scope() as session:
        job_id = session.get(BookingEvidence, evidence_id).job_id
    assert client.get(f"/ops/evidencias/{evidence_id}/html").status_code == 302  # no session: the login form
    assert log_in(client).status_code == 303

    page = client.get(f"/ops/jobs/{job_id}").get_data(as_text=True)
    html = client.get(f"/ops/evidencias/{evidence_id}/html")
    screenshot = client.get(f"/ops/evidencias/{evidence_id}/screenshot")

    assert f'href="/ops/evidencias/{evidence_id}/screenshot"' in page
    assert f'href="/ops/evidencias/{evidence_id}/html"' in page
    assert "O portal não oferece tipo de veículo" in page
    assert '<script>alert("xss")</script>' not in page  # the portal's markup is never part of our page
    assert (html.status_code, html.mimetype, html.headers["Content-Disposition"][:11]) == (200, "text/plain",
                                                                                         "attachment;")
    assert (screenshot.status_code, screenshot.mimetype, screenshot.data) == (200, "image/jpeg", JPEG)
    assert client.get("/ops/evidencias/999999/html").status_code == 404
