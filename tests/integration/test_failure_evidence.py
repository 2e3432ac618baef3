"""Evidence of a failed booking attempt, taken from the simulator's real pages in a real Chromium and kept in
the real PostgreSQL: a JPEG screenshot and the page's HTML, without passwords, within the size limits, at most
N per integration; a failure while capturing never changes what the attempt raised."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from jpeg import jpeg_dimensions
from playwright.sync_api import Browser
from rows import accepted_booking
from sqlalchemy import select
from test_portal_client import booking, portal_for

from filas.db.models import BookingEvidence
from filas.db.session import session_scope
from filas_portal import evidence_store
from filas_portal.evidence import Capture, EvidenceRecorder, capture_page
from filas_portal.portal_client import BookingRejected, LoginRejected

if TYPE_CHECKING:
    from conftest import PortalSim

WRONG_PASSWORD = "senha-errada-que-nao-pode-vazar"


@pytest.fixture
def database(configure, database_url: str) -> str:
    configure(FILAS_DATABASE_URL=database_url)
    return database_url


def kept(booking_id: int) -> list[BookingEvidence]:
    with session_scope() as session:
        return list(session.scalars(select(BookingEvidence).where(BookingEvidence.booking_id == booking_id)
                                    .order_by(BookingEvidence.id)))


def fail_booking(portal, load: str, raises: type[Exception], **overrides) -> None:
    with pytest.raises(raises):
        portal.book(booking(load, **overrides))


@pytest.mark.chromium
def test_a_refused_login_keeps_the_login_page_as_jpeg_and_html_without_the_password(
        database, portal_sim: PortalSim, portal_browser: Browser) -> None:
    booking_id, message = accepted_booking("L-EV1")
    # No secrets to mask: what Playwright types is a property of the input, never part of the serialised HTML.
    recorder = EvidenceRecorder(booking_id, message.message_id, attempt=1)
    portal = portal_for(portal_sim, portal_browser, password=WRONG_PASSWORD, on_failure=recorder,
                        on_step=lambda step, _: recorder.step(step))

    fail_booking(portal, "L-EV1", LoginRejected)

    [evidence] = kept(booking_id)
    assert (evidence.job_id, evidence.tentativa, evidence.etapa) == (message.message_id, 1, "login")
    assert evidence.erro == "O portal recusou o login: Usuário ou senha inválidos."
    assert evidence.url.endswith("/login")
    assert jpeg_dimensions(evidence.screenshot)[0] > 0
    assert 'id="form-login"' in evidence.html and "Usuário ou senha inválidos." in evidence.html
    assert WRONG_PASSWORD not in evidence.html
    assert (evidence.screenshot_bytes, evidence.html_bytes) == (len(evidence.screenshot),
                                                                len(evidence.html.encode()))


@pytest.mark.chromium
def test_a_refused_vehicle_keeps_the_booking_form(database, portal_sim: PortalSim, portal_browser: Browser) -> None:
    booking_id, message = accepted_booking("L-EV2")
    recorder = EvidenceRecorder(booking_id, message.message_id, attempt=2)
    portal = portal_for(portal_sim, portal_browser, on_failure=recorder, on_step=lambda step, _: recorder.step(step))

    fail_booking(portal, "L-EV2", BookingRejected, tipo_veiculo="99")

    [evidence] = kept(booking_id)
    assert (evidence.tentativa, evidence.etapa) == (2, "formulario")
    assert evidence.erro.startswith("O portal não oferece tipo de veículo '99'.")
    assert "Novo agendamento de entrega" in evidence.html and not evidence.html_truncado
    jpeg_dimensions(evidence.screenshot)


@pytest.mark.chromium
def test_a_password_the_portal_writes_into_its_page_is_removed(database, portal_browser: Browser) -> None:
    page = portal_browser.new_page()
    try:
        page.set_content('<form><input id="u" value="fornecedor"><input type="password" name="senha" '
                         'value="escrita-no-html"><input type="PASSWORD" id="p"><p>eco: segredo-configurado</p></form>')
        page.fill("#p", "digitada-pelo-worker")
        capture = capture_page(page, secrets=("segredo-configurado",))
    finally:
        page.close()

    for secret in ("escrita-no-html", "digitada-pelo-worker", "segredo-configurado"):
        assert secret not in capture.html
    assert 'value="fornecedor"' in capture.html  # other inputs keep what the portal showed
    assert 'type="password"' in capture.html and "eco: ********" in capture.html


@pytest.mark.chromium
def test_each_item_respects_the_size_limit(
        configure, database, portal_sim: PortalSim, portal_browser: Browser) -> None:
    configure(FILAS_DATABASE_URL=database, FILAS_PORTAL_EVIDENCE_MAX_BYTES="2000")
    booking_id, message = accepted_booking("L-EV3")
    recorder = EvidenceRecorder(booking_id, message.message_id, attempt=1)

    fail_booking(portal_for(portal_sim, portal_browser, on_failure=recorder), "L-EV3", BookingRejected,
                 tipo_veiculo="99")

    [evidence] = kept(booking_id)
    assert len(evidence.html.encode()) <= 2000 and evidence.html_truncado
    assert evidence.screenshot is None or len(evidence.screenshot) <= 2000
    assert evidence.screenshot_bytes == len(evidence.screenshot or b"")


def test_only_the_newest_n_are_kept_per_booking(configure, database) -> None:
    configure(FILAS_DATABASE_URL=database, FILAS_PORTAL_EVIDENCE_PER_INTEGRATION="2")
    booking_id, message = accepted_booking("L-EV4")
    other_id, _ = accepted_booking("L-EV5")
    capture = Capture(url="http://portal/", screenshot=None, html="<p>x</p>", html_truncated=False)

    saved = [evidence_store.save(booking_id, message.message_id, n, "busca", f"falha {n}", capture)
             for n in (1, 2, 3)]
    evidence_store.save(other_id, message.message_id, 1, "busca", "outra", capture)

    assert [e.id for e in kept(booking_id)] == saved[1:]
    assert len(kept(other_id)) == 1


@pytest.mark.chromium
def test_a_failure_while_capturing_is_ignored_and_keeps_nothing(database, portal_browser: Browser) -> None:
    booking_id, message = accepted_booking("L-EV6")
    page = portal_browser.new_page()
    page.close()  # the browser lost the page: every capture call fails

    EvidenceRecorder(booking_id, message.message_id, attempt=1)(page, BookingRejected("recusado"))

    assert kept(booking_id) == []
