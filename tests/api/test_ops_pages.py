"""The operations page's content, in-process (no workers: every job accepted stays queued): a campaign's
job with its row and counts, patients' names and numbers masked; cancelling it behind a confirmation."""

import pytest
from test_campaign_api import AUTH, create_campaign
from test_ops_auth import csrf_of, log_in

from filas.db.models import Campaign, CampaignMessage, CampaignStatus, Contact, MessageStatus
from filas.db.session import session_scope


@pytest.fixture
def signed_in(client):
    assert log_in(client).status_code == 303
    return client


@pytest.fixture
def validating(signed_in) -> tuple[int, str]:
    """A campaign whose validation waits in the queue, and one send that failed; (campaign id, task id)."""
    campaign = create_campaign(signed_in)
    task_id = signed_in.post(f"/api/campanhas/{campaign['id']}/validar", headers=AUTH).get_json()["task_id"]
    with session_scope() as session:
        contact = session.query(Contact).filter_by(campaign_id=campaign["id"]).first()
        session.add(CampaignMessage(campaign_id=campaign["id"], contact_id=contact.id, tipo="inicial",
                                    status=MessageStatus.FAILED, erro="gateway recusou"))
    return campaign["id"], task_id


def test_a_queued_campaign_job_shows_its_row_with_personal_data_masked(signed_in, validating):
    _, task_id = validating

    page = signed_in.get(f"/ops/jobs/{task_id}").get_data(as_text=True)

    assert "campaigns.validate_numbers" in page and "Busca ativa" in page
    assert 'class="status status-queued"' in page and "Cancelar…" in page
    assert "gateway recusou" in page and "M**** S****" in page and "*********0001" in page
    for personal in ("Maria", "Souza", "99999-0001", "5585999990001"):
        assert personal not in page


def test_the_overview_lists_the_queues_and_the_recent_job(signed_in, validating):
    _, task_id = validating

    page = signed_in.get("/ops/").get_data(as_text=True)

    for queue in ("atacadao", "campaigns", "maintenance"):
        assert f'data-queue="{queue}"' in page
    assert f'data-job-id="{task_id}"' in page
    assert "Nenhum job falho." in page and "Nenhuma mensagem morta." in page


def test_cancelling_asks_for_confirmation_then_cancels(signed_in, validating):
    campaign_id, task_id = validating

    confirm = signed_in.get(f"/ops/jobs/{task_id}/cancel")
    assert confirm.status_code == 200 and "Confirmar cancelamento" in confirm.get_data(as_text=True)
    with session_scope() as session:
        assert session.get(Campaign, campaign_id).status == CampaignStatus.VALIDATING  # nothing done yet

    done = signed_in.post(f"/ops/jobs/{task_id}/cancel", data={"csrf_token": csrf_of(confirm)},
                          follow_redirects=True)

    page = done.get_data(as_text=True)
    assert "Job cancelado" in page and 'class="status status-cancelled"' in page
    with session_scope() as session:
        assert session.get(Campaign, campaign_id).status == CampaignStatus.DRAFT
    assert signed_in.get(f"/ops/jobs/{task_id}/cancel").status_code == 409  # nothing left to cancel
