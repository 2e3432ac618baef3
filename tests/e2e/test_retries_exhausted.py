"""A job whose transient failures outlast its retries leaves its domain row failed, not stuck running.

The messages are enqueued by name with max_retries=0 (a per-message option the Retries middleware
honours), so that the last attempt is the first one."""


import pytest
from rows import accepted_booking
from test_campaign_flow import ended

from filas import contracts, lifecycle
from filas.db.models import BookingStatus, Campaign, CampaignStatus, Contact
from filas.db.session import session_scope


def without_retries(message):
    return message.copy(options={"max_retries": 0})


@pytest.mark.chromium
def test_a_booking_whose_portal_stays_down_ends_failed(api, portal_sim, stack_database_url, enqueue_by_name):
    portal_sim.post("/_sim/config", json={"fail_next": 1000}).raise_for_status()
    _, message = accepted_booking("LOTE-DOWN", stack_database_url)

    enqueue_by_name(without_retries(message))
    status = api.wait_until(f"/portal/api/status-job/{message.message_id}",
                            lambda body: body.get("status") in ("finished", "failed"))

    assert status["status"] == "failed"
    assert status["integracao"]["status"] == BookingStatus.ERROR
    assert "tentativas esgotadas" in status["integracao"]["mensagem"]


def test_a_validation_whose_gateway_stays_down_ends_in_error(api, whatsapp_sim, stack_database_url, enqueue_by_name):
    whatsapp_sim.post("/_sim/config", json={"fail_next_checks": 1000, "fail_status": 503}).raise_for_status()
    with session_scope(stack_database_url) as session:
        campaign = Campaign(nome="c", mensagem="m", status=CampaignStatus.VALIDATING,
                            contacts=[Contact(nome="p", telefone="5585999990001")])
        session.add(campaign)
        session.flush()
        message = contracts.VALIDATE_NUMBERS.message(campaign_id=campaign.id)
        campaign.validacao_job_id = message.message_id
        lifecycle.queue(campaign, message.message_id)

    enqueue_by_name(without_retries(message))
    task = api.wait_until(f"/api/task/{message.message_id}/status", ended)

    assert task["status"] == "failed"
    assert api.get(f"/api/campanhas/{campaign.id}").json()["campanha"]["status"] == CampaignStatus.ERROR
