"""The job lifecycle through every real part: the row in PostgreSQL is the truth about a job.

Cancel at every stage (queued, waiting for a retry, running), two deliveries of one booking at once,
and a job's status after its Redis view is gone."""


import pytest
from rows import accepted_booking
from test_booking_flow import booking, finished
from test_campaign_flow import create_campaign, start
from waiting import wait_for

from filas import contracts
from filas.db.models import Booking, BookingStatus
from filas.db.session import session_scope


def booking_row(stack_database_url: str, booking_id: int) -> Booking:
    with session_scope(stack_database_url) as session:
        return session.get(Booking, booking_id)


def broker_is_idle(stack_redis, queue: str) -> bool:
    """No message left for `queue`: none ready, none delayed, none held by a worker."""
    held = sum(stack_redis.scard(key) for key in stack_redis.scan_iter(f"dramatiq:__acks__.*.{queue}*"))
    return not (stack_redis.llen(f"dramatiq:{queue}") or stack_redis.llen(f"dramatiq:{queue}.DQ") or held)


@pytest.mark.chromium
def test_a_booking_cancelled_while_waiting_for_its_retry_never_runs_and_frees_its_load(
        api, portal_sim, stack_redis, stack_database_url):
    portal_sim.post("/_sim/config", json={"fail_next": 1}).raise_for_status()  # the first attempt meets a 503
    accepted = api.post("/portal/api/solicitar-agendamento-async", json=booking("LOTE-RETRY-CANCEL")).json()
    waiting = api.wait_until(accepted["status_url"], lambda body: body["estado"] == "retrying")

    cancel = api.post(f"/api/task/{accepted['job_id']}/cancel")

    assert cancel.status_code == 200, cancel.text
    assert cancel.json()["status"] == "cancelled"
    assert waiting["tentativas"] == 1
    row = booking_row(stack_database_url, accepted["integracao_id"])
    assert (row.status, row.job_status) == (BookingStatus.CANCELLED, "cancelled")
    # The retry's message still arrives at the worker (after its backoff): it must not run.
    wait_for(lambda: broker_is_idle(stack_redis, "atacadao"), 180, "the retry's delivery")
    status = api.get(accepted["status_url"]).json()
    assert (status["status"], status["estado"]) == ("failed", "cancelled")
    assert portal_sim.get("/_sim/bookings").json() == []

    # After its retention the Redis view is gone: the status comes from the row, and says the same.
    stack_redis.delete(f"filas:job:{accepted['job_id']}")
    after = api.get(accepted["status_url"]).json()
    assert (after["status"], after["estado"], after["resultado"]["success"]) == ("failed", "cancelled", False)
    task = api.get(f"/api/task/{accepted['job_id']}/status").json()  # the task API reads the same row
    assert (task["status"], task["tipo"], task["resultado"]["integracao_status"]) == (
        "cancelled", "portal.schedule_booking", BookingStatus.CANCELLED)

    again = api.post("/portal/api/solicitar-agendamento-async", json=booking("LOTE-RETRY-CANCEL"))
    assert again.status_code == 202, again.text


@pytest.mark.chromium
def test_a_running_booking_cancelled_stops_before_submitting(api, portal_sim, stack_database_url, stack_redis):
    portal_sim.post("/_sim/config", json={"delay_ms": 700}).raise_for_status()  # every portal page is slow
    accepted = api.post("/portal/api/solicitar-agendamento-async", json=booking("LOTE-RUN-CANCEL")).json()
    api.wait_until(accepted["status_url"], lambda body: body["status"] == "started")

    cancel = api.post(f"/api/task/{accepted['job_id']}/cancel")

    assert cancel.status_code == 202, cancel.text
    status = api.wait_until(accepted["status_url"], finished)
    assert status["estado"] == "cancelled", status
    assert portal_sim.get("/_sim/bookings").json() == []
    row = booking_row(stack_database_url, accepted["integracao_id"])
    assert (row.status, row.job_status, row.job_lease_owner) == (BookingStatus.CANCELLED, "cancelled", None)
    assert stack_redis.zcard("dramatiq:atacadao.XQ") == 0  # acknowledged: no dead letter for an operator


@pytest.mark.chromium
def test_two_deliveries_of_one_booking_at_once_submit_once(api, portal_sim, stack_redis, stack_database_url,
                                                          enqueue_by_name):
    portal_sim.post("/_sim/config", json={"delay_ms": 500}).raise_for_status()
    accepted = api.post("/portal/api/solicitar-agendamento-async", json=booking("LOTE-TWICE")).json()
    # A second copy of the same job, as a reconcile or a redelivery would make: the worker's two
    # threads take one each.
    duplicate = contracts.SCHEDULE_BOOKING.message(booking_id=accepted["integracao_id"])
    enqueue_by_name(duplicate.copy(message_id=accepted["job_id"]))

    status = api.wait_until(accepted["status_url"], finished)

    assert status["status"] == "finished", status
    assert [made["lote"] for made in portal_sim.get("/_sim/bookings").json()] == ["LOTE-TWICE"]
    # The copy that found the row held was postponed until the lease would lapse, not run.
    postponed = wait_for(lambda: stack_redis.hvals("dramatiq:atacadao.DQ.msgs"), 30, "the postponed copy")
    assert any(accepted["job_id"] in body for body in postponed)
    row = booking_row(stack_database_url, accepted["integracao_id"])
    assert (row.status, row.job_status, row.job_attempts) == (BookingStatus.BOOKED, "finished", 1)


@pytest.mark.chromium
def test_a_booking_over_its_time_limit_on_its_last_attempt_ends_in_error(api, portal_sim, stack_database_url,
                                                                      enqueue_by_name):
    portal_sim.post("/_sim/config", json={"delay_ms": 3000}).raise_for_status()
    booking_id, message = accepted_booking("LOTE-SLOW", stack_database_url)
    enqueue_by_name(message.copy(options={"max_retries": 0, "time_limit": 2000}))

    status = api.wait_until(f"/portal/api/status-job/{message.message_id}", finished)

    assert status["status"] == "failed"
    assert status["integracao"]["status"] == BookingStatus.ERROR
    assert "tempo limite" in status["resultado"]["message"]
    assert portal_sim.get("/_sim/bookings").json() == []
    again = api.post(f"/portal/api/reprocessar-integracao/{booking_id}")
    assert again.status_code == 202, again.text  # a row in error can be reprocessed


def test_a_validation_cancelled_while_waiting_for_its_retry_never_runs_again(api, whatsapp_sim, stack_redis):
    whatsapp_sim.post("/_sim/config", json={"fail_next_checks": 1, "fail_status": 503}).raise_for_status()
    campaign_id = create_campaign(api)
    task = start(api, campaign_id, "validar")
    api.wait_until(task["status_url"], lambda body: body["status"] == "retrying")

    cancel = api.post(f"/api/task/{task['task_id']}/cancel")

    assert cancel.status_code == 200, cancel.text
    assert api.get(f"/api/campanhas/{campaign_id}").json()["campanha"]["status"] == "rascunho"
    wait_for(lambda: broker_is_idle(stack_redis, "campaigns"), 120, "the retry's delivery")
    assert api.get(task["status_url"]).json()["status"] == "cancelled"
    assert whatsapp_sim.get("/_sim/checks").json() == []  # the failed attempt was never answered; no other came
    assert start(api, campaign_id, "validar")["task_id"]  # the campaign can be validated again
