"""The portal's vocabulary and each class of failure, from the real simulator over HTTP in a real Chromium:
what the page object raises, with which message, and whether it is worth a retry."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest
from dramatiq.errors import Retry
from playwright.sync_api import Browser
from test_portal_client import NEXT_WEEK, booking, portal_for

from filas.errors import PermanentJobError
from filas_portal.portal_client import (
    BookingRejected,
    CaptchaRequired,
    PortalTransientError,
    PortalUnavailable,
    SessionExpired,
    SlotUnavailable,
)
from filas_simulators.portal import create_app

if TYPE_CHECKING:
    from conftest import PortalSim

SET_UP_SESSION = "uma pessoa precisa configurar a sessão do portal e depois reprocessar a integração"


def booked_as(sim: PortalSim) -> tuple[str, str]:
    [made] = sim.bookings()
    return made["transportadora_nome"], made["tipo_veiculo_nome"]


# --- vocabulary -------------------------------------------------------------------------------------


@pytest.mark.chromium
def test_the_portals_codes_book_as_the_front_end_sends_them(portal_sim: PortalSim, portal_browser: Browser) -> None:
    portal_for(portal_sim, portal_browser).book(booking("L-V1", transportadora="101", tipo_veiculo="11"))

    assert booked_as(portal_sim) == ("Agregado", "Truck")
    assert (portal_sim.bookings()[0]["transportadora"], portal_sim.bookings()[0]["tipo_veiculo"]) == ("101", "11")


@pytest.mark.chromium
def test_names_book_whatever_their_case_accents_and_spacing(portal_sim: PortalSim, portal_browser: Browser) -> None:
    portal_for(portal_sim, portal_browser).book(
        booking("L-V2", transportadora="  frota   PROPRIA ", tipo_veiculo="VANDERLEIA")
    )

    assert booked_as(portal_sim) == ("Frota Própria", "Vanderléia")


@pytest.mark.chromium
def test_a_carrier_the_portal_does_not_list_is_refused_with_the_portals_list(
    portal_sim: PortalSim, portal_browser: Browser
) -> None:
    with pytest.raises(BookingRejected) as raised:
        portal_for(portal_sim, portal_browser).book(booking("L-V3", transportadora="Transportadora Fantasma"))

    assert str(raised.value) == (
        "O portal não oferece transportadora 'Transportadora Fantasma'. Opções do portal: Agregado, Frota Própria, "
        "Transportes Exemplo, Transportes Rápido Ltda, Braspress, Jamef, Rodonaves, TNT Mercúrio."
    )
    assert portal_sim.bookings() == []


# --- permanent: retrying would not help ---------------------------------------------------------------


@pytest.mark.chromium
def test_a_full_slot_is_slot_unavailable_with_the_portals_message(
    portal_sim: PortalSim, portal_browser: Browser
) -> None:
    portal_sim.configure(full_slots=[f"{NEXT_WEEK.isoformat()} 14:00"])

    with pytest.raises(SlotUnavailable) as raised:
        portal_for(portal_sim, portal_browser).book(booking("L-E1", hora="14:00"))

    assert isinstance(raised.value, PermanentJobError)
    assert str(raised.value) == (
        f"Horário indisponível: 14:00 de {NEXT_WEEK:%d/%m/%Y} está lotado. Escolha outro horário."
    )
    assert portal_sim.bookings() == []


@pytest.mark.chromium
def test_a_captcha_on_the_form_tells_a_person_to_set_up_the_session(
    portal_sim: PortalSim, portal_browser: Browser
) -> None:
    portal_sim.configure(captcha_lotes=["L-E2"])

    with pytest.raises(CaptchaRequired) as raised:
        portal_for(portal_sim, portal_browser).book(booking("L-E2"))

    assert isinstance(raised.value, PermanentJobError)
    assert str(raised.value) == f"O portal pediu CAPTCHA ao agendar o lote L-E2: {SET_UP_SESSION}."


@pytest.mark.chromium
def test_an_expired_session_the_worker_cannot_renew_stops_with_session_expired(
    portal_sim: PortalSim, portal_browser: Browser
) -> None:
    first = portal_for(portal_sim, portal_browser)
    first.book(booking("L-E3"))
    portal_sim.configure(expire_sessions=True, login_captcha=True)

    with pytest.raises(SessionExpired) as raised:
        portal_for(portal_sim, portal_browser, storage_state=first.storage_state()).book(booking("L-E4"))

    assert isinstance(raised.value, PermanentJobError)
    assert str(raised.value) == f"A sessão do portal expirou e o portal pede CAPTCHA para entrar: {SET_UP_SESSION}."
    assert portal_sim.state()["failed_logins"] == 0  # it did not even try a login the portal would refuse
    assert [made["lote"] for made in portal_sim.bookings()] == ["L-E3"]


@pytest.mark.chromium
def test_an_expired_session_without_credentials_stops_with_session_expired(
    portal_sim: PortalSim, portal_browser: Browser
) -> None:
    with pytest.raises(SessionExpired, match="não há usuário e senha configurados"):
        portal_for(portal_sim, portal_browser, username="", password="").book(booking("L-E5"))


# --- transient: retried -----------------------------------------------------------------------------


@pytest.mark.chromium
def test_a_5xx_with_retry_after_is_retried_after_the_delay_the_portal_asked_for(
    portal_sim: PortalSim, portal_browser: Browser
) -> None:
    portal_sim.configure(fail_next=1, fail_status=502, retry_after_seconds=7)

    with pytest.raises(PortalUnavailable) as raised:
        portal_for(portal_sim, portal_browser).book(booking("L-T1"))

    assert isinstance(raised.value, Retry) and not isinstance(raised.value, PermanentJobError)
    assert raised.value.delay == 7000
    assert str(raised.value) == "O portal respondeu HTTP 502 (/agendamentos?lote=L-T1) e pediu para aguardar 7 s."


@pytest.mark.chromium
def test_a_5xx_without_retry_after_is_retried_with_backoff(portal_sim: PortalSim, portal_browser: Browser) -> None:
    portal_sim.configure(fail_next=1, fail_status=500, retry_after_seconds=0)

    with pytest.raises(PortalTransientError, match="HTTP 500") as raised:
        portal_for(portal_sim, portal_browser).book(booking("L-T2"))

    assert not isinstance(raised.value, Retry | PermanentJobError)  # Dramatiq's own backoff decides when


@pytest.mark.chromium
def test_a_session_expiring_mid_flow_is_retried_and_the_retry_books_once(
    portal_sim: PortalSim, portal_browser: Browser
) -> None:
    portal_sim.configure(expire_sessions_on_submit=1)
    portal = portal_for(portal_sim, portal_browser)

    with pytest.raises(PortalTransientError, match="sessão do portal expirou durante o envio") as raised:
        portal.book(booking("L-T3"))
    assert not isinstance(raised.value, PermanentJobError)
    assert portal_sim.bookings() == []

    assert portal.book(booking("L-T3")).already_existed is False
    assert [made["lote"] for made in portal_sim.bookings()] == ["L-T3"]


# --- the simulator's list per load --------------------------------------------------------------------


@pytest.mark.chromium
def test_the_simulator_lists_one_loads_bookings(portal_sim: PortalSim, portal_browser: Browser) -> None:
    portal = portal_for(portal_sim, portal_browser)
    for load in ("L-B1", "L-B2"):
        portal.book(booking(load))

    listed = httpx.get(f"{portal_sim.url}/_sim/bookings", params={"lote": "L-B2"}).json()
    assert [made["lote"] for made in listed] == ["L-B2"]


def test_the_simulator_validates_its_bad_days() -> None:
    client = create_app("u", "p").test_client()

    for bad in ({"fail_status": 404}, {"full_slots": "14:00"}, {"login_captcha": 1}, {"expire_sessions_on_submit": -1}):
        assert client.post("/_sim/config", json=bad).status_code == 400, bad
    client.post("/_sim/config", json={"fail_next": 2, "fail_status": 502, "retry_after_seconds": 0})
    assert client.get("/login").status_code == 502 and "Retry-After" not in client.get("/login").headers
