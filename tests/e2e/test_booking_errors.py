"""Bookings as the front end sends them, and each class of portal failure, through every real part (API,
Redis, PostgreSQL, the portal worker's Chromium, the portal simulator): the job's status, the message a person
reads, and whether the worker tried again."""

import datetime as dt
import json

import pytest
from rows import accepted_booking
from test_booking_flow import finished

from filas.db.models import Booking
from filas.db.session import session_scope

pytestmark = pytest.mark.chromium

NEXT_WEEK = dt.date.today() + dt.timedelta(days=7)
SET_UP_SESSION = "uma pessoa precisa configurar a sessão do portal e depois reprocessar a integração"


def seed_example(**overrides) -> dict:
    """The request the front end sends, as the seed's guide documents it, with a future date."""
    body = {"lote_id": "SEP-2024-0001", "data_agendamento": NEXT_WEEK.isoformat(), "hora_agendamento": "14:00",
            "transportadora": "Agregado", "tipo_veiculo": "11"}
    return {**body, **overrides}


def book(api, body: dict) -> dict:
    accepted = api.post("/portal/api/solicitar-agendamento-async", json=body)
    assert accepted.status_code == 202, accepted.text
    return api.wait_until(accepted.json()["status_url"], finished)


def attempts(stack_database_url: str, booking_id: int) -> int:
    with session_scope(stack_database_url) as session:
        return session.get(Booking, booking_id).job_attempts


def failed_for_good(status: dict, stack_database_url: str) -> str:
    """The message of a job that failed on its first attempt, without a retry; its row in error."""
    assert (status["status"], status["integracao"]["status"]) == ("failed", "erro"), status
    assert attempts(stack_database_url, status["integracao"]["id"]) == 1
    assert "tentativas esgotadas" not in status["resultado"]["message"]
    assert status["integracao"]["mensagem"] == status["resultado"]["message"]
    return status["resultado"]["message"]


# --- the portal's vocabulary ----------------------------------------------------------------------------


def test_the_seeds_documented_example_books_end_to_end(api, portal_sim):
    status = book(api, seed_example())

    assert status["status"] == "finished", status
    [made] = portal_sim.get("/_sim/bookings").json()
    assert (made["lote"], made["data"], made["hora"]) == ("SEP-2024-0001", NEXT_WEEK.isoformat(), "14:00")
    assert (made["tipo_veiculo"], made["tipo_veiculo_nome"], made["transportadora_nome"]) == ("11", "Truck", "Agregado")
    assert status["integracao"]["protocolo"] == made["protocolo"]


def test_names_in_another_case_and_without_accents_book(api, portal_sim):
    status = book(api, seed_example(lote_id="LOTE-NOMES", transportadora="FROTA PROPRIA", tipo_veiculo="vanderleia"))

    assert status["status"] == "finished", status
    [made] = portal_sim.get("/_sim/bookings").json()
    assert (made["transportadora_nome"], made["tipo_veiculo_nome"]) == ("Frota Própria", "Vanderléia")


def test_an_unknown_vehicle_fails_for_good_listing_the_portals_options(api, portal_sim, stack_database_url):
    status = book(api, seed_example(lote_id="LOTE-VEICULO", tipo_veiculo="99"))

    assert failed_for_good(status, stack_database_url) == (
        "O portal não oferece tipo de veículo '99'. Opções do portal: VUC, 3/4, Toco, Truck, Bitruck, Carreta, "
        "Carreta LS, Vanderléia, Bitrem, Rodotrem, Van.")
    assert portal_sim.get("/_sim/bookings").json() == []


# --- permanent failures: a clear message, no retry ---------------------------------------------------------


def test_a_full_slot_fails_for_good_saying_so(api, portal_sim, stack_database_url):
    portal_sim.post("/_sim/config", json={"full_slots": ["14:00"]}).raise_for_status()

    status = book(api, seed_example(lote_id="LOTE-LOTADO"))

    assert failed_for_good(status, stack_database_url) == (
        f"Horário indisponível: 14:00 de {NEXT_WEEK:%d/%m/%Y} está lotado. Escolha outro horário.")
    assert portal_sim.get("/_sim/bookings").json() == []


def test_a_captcha_fails_for_good_asking_a_person_to_set_up_the_session(api, portal_sim, stack_database_url):
    portal_sim.post("/_sim/config", json={"captcha_all": True}).raise_for_status()

    status = book(api, seed_example(lote_id="LOTE-CAPTCHA"))

    assert failed_for_good(status, stack_database_url) == (
        f"O portal pediu CAPTCHA ao agendar o lote LOTE-CAPTCHA: {SET_UP_SESSION}.")


def test_an_expired_session_that_cannot_be_renewed_stops_without_a_retry_storm(api, portal_sim, stack_database_url):
    portal_sim.post("/_sim/config", json={"login_captcha": True}).raise_for_status()

    statuses = [book(api, seed_example(lote_id=f"LOTE-SESSAO-{n}")) for n in range(2)]

    for status in statuses:
        assert failed_for_good(status, stack_database_url) == (
            f"A sessão do portal expirou e o portal pede CAPTCHA para entrar: {SET_UP_SESSION}.")
    assert portal_sim.get("/_sim/state").json()["failed_logins"] == 0  # no login thrown at the CAPTCHA


# --- transient failures: retried -------------------------------------------------------------------------


def test_a_5xx_with_retry_after_is_retried_after_the_delay_the_portal_asked_for(
        api, portal_sim, stack_database_url, stack_redis, enqueue_by_name):
    portal_sim.post("/_sim/config", json={"fail_next": 1, "retry_after_seconds": 30}).raise_for_status()
    booking_id, message = accepted_booking("LOTE-503", stack_database_url)
    enqueue_by_name(message)

    api.wait_until(f"/portal/api/status-job/{message.message_id}", lambda body: body["estado"] == "retrying")
    with session_scope(stack_database_url) as session:
        error = session.get(Booking, booking_id).job_error
    # a first attempt goes straight to the form (nothing submitted before: no search)
    assert error == "O portal respondeu HTTP 503 (/agendamentos/novo) e pediu para aguardar 30 s."
    [delayed] = [json.loads(body) for body in stack_redis.hvals("dramatiq:atacadao.DQ.msgs")
                 if message.message_id in body]
    options = delayed["options"]
    assert 30_000 <= options["eta"] - options["requeue_timestamp"] < 31_000  # Retry-After, not the 20 s backoff

    status = api.wait_until(f"/portal/api/status-job/{message.message_id}", finished)
    assert status["status"] == "finished", status
    assert attempts(stack_database_url, booking_id) == 2
    assert [made["lote"] for made in portal_sim.get("/_sim/bookings").json()] == ["LOTE-503"]


def test_a_session_expiring_mid_flow_is_retried_and_books_once(api, portal_sim, stack_database_url, enqueue_by_name):
    portal_sim.post("/_sim/config", json={"expire_sessions_on_submit": 1}).raise_for_status()
    booking_id, message = accepted_booking("LOTE-EXPIRA", stack_database_url)
    enqueue_by_name(message.copy(options={"min_backoff": 100, "max_backoff": 1000}))  # a quick retry

    status = api.wait_until(f"/portal/api/status-job/{message.message_id}", finished)

    assert status["status"] == "finished", status
    assert attempts(stack_database_url, booking_id) == 2
    assert [made["lote"] for made in portal_sim.get("/_sim/bookings").json()] == ["LOTE-EXPIRA"]
