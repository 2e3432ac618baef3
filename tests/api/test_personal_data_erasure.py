"""POST /api/dados-pessoais/apagar: a patient's number is erased from every campaign, with its messages, and
opted out for good (kept as a keyed hash), on the real PostgreSQL."""

import io
import logging

from sqlalchemy import func, select

from filas.db.models import CampaignMessage, Contact, MessageKind, MessageStatus, OptOut
from filas.db.session import session_scope
from filas.opt_outs import is_opted_out

AUTH = {"Authorization": "Bearer test-token"}  # accepted by the `client` fixture
ERASE = "/api/dados-pessoais/apagar"


def campaign_with(client, csv: str) -> int:
    campaign_id = client.post("/api/campanhas", json={"nome": "Busca ativa", "mensagem": "Olá!"},
                              headers=AUTH).get_json()["campanha"]["id"]
    reply = client.post(f"/api/campanhas/{campaign_id}/contatos", headers=AUTH, content_type="multipart/form-data",
                        data={"arquivo": (io.BytesIO(csv.encode()), "contatos.csv")})
    assert reply.status_code == 201, reply.get_json()
    return campaign_id


def add_messages(campaign_id: int) -> None:
    """An initial message and a follow-up to each of the campaign's contacts."""
    with session_scope() as session:
        for contact in session.scalars(select(Contact).where(Contact.campaign_id == campaign_id)):
            for kind, reference in ((MessageKind.INITIAL, ""), (MessageKind.FOLLOW_UP, "2026-11-24")):
                session.add(CampaignMessage(campaign_id=campaign_id, contact_id=contact.id, tipo=kind,
                                            referencia=reference, status=MessageStatus.SENT))


def numbers() -> list[str]:
    with session_scope() as session:
        return sorted(session.scalars(select(Contact.telefone)))


def message_count() -> int:
    with session_scope() as session:
        return session.scalar(select(func.count(CampaignMessage.id)))


def test_a_number_is_erased_from_every_campaign_and_opted_out(client, caplog):
    first = campaign_with(client, "nome;telefone;data_consulta\nMaria Souza;(85) 99999-0001;01/12\n"
                                  "José Lima;(85) 98888-0002;02/12\n")
    second = campaign_with(client, "nome;telefone\nMaria S.;85 99999-0001\n")
    with session_scope() as session:  # a row kept before the ninth digit was added to the number
        session.add(Contact(campaign_id=second, nome="Maria", telefone="558599990001"))
    add_messages(first)
    add_messages(second)
    caplog.set_level(logging.INFO)

    reply = client.post(ERASE, json={"telefone": "+55 (85) 9999-0001"}, headers=AUTH)

    assert reply.status_code == 200, reply.get_json()
    assert reply.get_json() == {"sucesso": True, "contatos_apagados": 3, "mensagens_apagadas": 6, "campanhas": 2,
                                "opt_out": True}
    assert numbers() == ["5585988880002"]  # the other patient stays, with their messages
    assert message_count() == 2
    with session_scope() as session:
        assert is_opted_out(session, "5585999990001") and is_opted_out(session, "558599990001")
        assert not is_opted_out(session, "5585988880002")
        assert session.scalar(select(func.count()).select_from(OptOut)) == 1
    erased_lines = [record.getMessage() for record in caplog.records if "erased" in record.getMessage()]
    assert erased_lines == ["personal data of *********0001 erased: 3 contacts in 2 campaigns, 6 messages; opted out"]
    assert "99990001" not in caplog.text.replace("*********0001", "")


def test_asking_again_or_for_an_unknown_number_is_no_error(client):
    campaign_with(client, "nome;telefone\nMaria;(85) 99999-0001\n")

    first = client.post(ERASE, json={"telefone": "85999990001"}, headers=AUTH)
    again = client.post(ERASE, json={"telefone": "85999990001"}, headers=AUTH)
    unknown = client.post(ERASE, json={"telefone": "(11) 3333-4444"}, headers=AUTH)

    assert first.get_json()["contatos_apagados"] == 1
    assert (again.status_code, again.get_json()["contatos_apagados"], again.get_json()["opt_out"]) == (200, 0, True)
    assert (unknown.status_code, unknown.get_json()["contatos_apagados"]) == (200, 0)


def test_an_erased_number_is_not_stored_again_when_a_list_brings_it_back(client):
    client.post(ERASE, json={"telefone": "85999990001"}, headers=AUTH)
    campaign_id = client.post("/api/campanhas", json={"nome": "Outra", "mensagem": "Olá!"},
                              headers=AUTH).get_json()["campanha"]["id"]

    reply = client.post(f"/api/campanhas/{campaign_id}/contatos", headers=AUTH, content_type="text/csv",
                        data=b"nome;telefone\nMaria;(85) 9999-0001\nJoana;(85) 98888-0002\n")

    assert reply.get_json()["rejeitados"] == [{"linha": 2, "motivo": "pediu para não receber mensagens (opt-out)"}]
    assert numbers() == ["5585988880002"]


def test_a_number_that_is_not_a_phone_is_a_400(client):
    reply = client.post(ERASE, json={"telefone": "123"}, headers=AUTH)

    assert reply.status_code == 400
    assert [problem["campo"] for problem in reply.get_json()["erros"]] == ["telefone"]
    assert client.post(ERASE, json={"telefone": "85999990001"}).status_code == 401
