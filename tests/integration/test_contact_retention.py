"""The 6-hourly clean-up deletes patients' contacts (and their messages) past FILAS_CONTACT_RETENTION_DAYS, on
the real PostgreSQL, except in campaigns validating or sending; opt-outs stay."""

from datetime import timedelta

from sqlalchemy import func, select

from filas.clock import utcnow
from filas.db.models import Campaign, CampaignMessage, CampaignStatus, Contact, MessageKind, MessageStatus
from filas.db.session import session_scope
from filas.opt_outs import is_opted_out, record_opt_out
from filas_campaigns.maintenance import cleanup

RETENTION = timedelta(days=30)


def add_campaign(status: str, contacts: dict[str, timedelta]) -> int:
    """A campaign with contacts (number → age), each sent one message."""
    now = utcnow()
    with session_scope() as session:
        campaign = Campaign(nome=status, mensagem="Olá!", status=status)
        for telefone, age in contacts.items():
            campaign.contacts.append(Contact(nome="Paciente", telefone=telefone, criado_em=now - age))
        session.add(campaign)
        session.flush()
        for contact in campaign.contacts:
            session.add(CampaignMessage(campaign_id=campaign.id, contact_id=contact.id, tipo=MessageKind.INITIAL,
                                        status=MessageStatus.SENT, enviado_em=now - timedelta(days=1)))
        return campaign.id


def remaining() -> list[str]:
    with session_scope() as session:
        return sorted(session.scalars(select(Contact.telefone)))


def test_clean_up_deletes_contacts_past_retention_with_their_messages(configure, database_url):
    configure(FILAS_DATABASE_URL=database_url, FILAS_CONTACT_RETENTION_DAYS="30")
    add_campaign(CampaignStatus.SENT, {"5585999990401": RETENTION + timedelta(minutes=1),
                                       "5585999990402": RETENTION - timedelta(hours=1)})
    add_campaign(CampaignStatus.DRAFT, {"5585999990403": timedelta(days=400)})
    with session_scope() as session:
        record_opt_out(session, "5585999990401", "SAIR")

    result = cleanup()

    assert (result["contatos_apagados"], result["mensagens_apagadas"]) == (2, 2)
    assert remaining() == ["5585999990402"]
    with session_scope() as session:
        assert session.scalar(select(func.count(CampaignMessage.id))) == 1
        assert session.scalar(select(func.count(Campaign.id))) == 2  # the campaigns themselves stay
        assert is_opted_out(session, "5585999990401")  # the opt-out outlives the contact


def test_campaigns_validating_or_sending_keep_their_contacts_until_they_end(configure, database_url):
    configure(FILAS_DATABASE_URL=database_url, FILAS_CONTACT_RETENTION_DAYS="30")
    old = RETENTION + timedelta(days=1)
    add_campaign(CampaignStatus.VALIDATING, {"5585999990411": old})
    sending = add_campaign(CampaignStatus.SENDING, {"5585999990412": old})
    add_campaign(CampaignStatus.PAUSED, {"5585999990413": old})

    first = cleanup()

    assert first["contatos_apagados"] == 1
    assert remaining() == ["5585999990411", "5585999990412"]
    with session_scope() as session:
        session.get(Campaign, sending).status = CampaignStatus.SENT
    assert cleanup()["contatos_apagados"] == 1
    assert remaining() == ["5585999990411"]


def test_nothing_past_retention_deletes_nothing(configure, database_url):
    configure(FILAS_DATABASE_URL=database_url)  # 180 days
    add_campaign(CampaignStatus.SENT, {"5585999990421": timedelta(days=179)})

    result = cleanup()

    assert (result["contatos_apagados"], result["mensagens_apagadas"]) == (0, 0)
    assert remaining() == ["5585999990421"]
