"""Patient replies and opt-outs arriving as Evolution API webhook events."""

from sqlalchemy import select

from filas.db.models import Campanha, Contato, OptOut
from filas.db.session import session_scope

URL = "/api/webhooks/evolution?token=webhook-secret"  # FILAS_WEBHOOK_TOKEN of the `client` fixture


def reply_event(jid: str, text: str, from_me: bool = False) -> dict:
    return {"event": "messages.upsert", "instance": "filas",
            "data": {"key": {"remoteJid": jid, "fromMe": from_me, "id": "ABC"}, "pushName": "Paciente",
                     "message": {"conversation": text}, "messageType": "conversation"}}


def add_campaign(*contacts: tuple[str, str | None]) -> None:
    with session_scope() as session:
        session.add(Campanha(nome="c", mensagem="m", contatos=[
            Contato(nome="p", telefone=telefone, whatsapp_id=jid, whatsapp_status="valido")
            for telefone, jid in contacts]))


def answered() -> dict[str, bool]:
    with session_scope() as session:
        return {c.telefone: c.respondeu_em is not None for c in session.scalars(select(Contato))}


def test_a_reply_marks_the_contact_as_answered_even_by_its_legacy_id(client):
    add_campaign(("5585999990001", "5585999990001@s.whatsapp.net"), ("5585988880002", "558588880002@s.whatsapp.net"))

    reply = client.post(URL, json=reply_event("558588880002@s.whatsapp.net", "Obrigado, vou sim"))

    assert reply.status_code == 200
    assert reply.get_json()["contatos_respondidos"] == 1
    assert answered() == {"5585999990001": False, "5585988880002": True}


def test_sair_is_an_opt_out_of_the_stored_number(client):
    add_campaign(("5585988880002", "558588880002@s.whatsapp.net"))

    client.post(URL, json=reply_event("558588880002@s.whatsapp.net", " sair! "))

    with session_scope() as session:
        assert session.scalars(select(OptOut.telefone)).all() == ["5585988880002"]


def test_our_own_messages_and_other_events_are_ignored(client):
    add_campaign(("5585999990001", "5585999990001@s.whatsapp.net"))

    assert client.post(URL, json=reply_event("5585999990001@s.whatsapp.net", "oi", from_me=True)).get_json()[
        "ignorado"] is True
    assert client.post(URL, json={"event": "connection.update"}).get_json()["ignorado"] is True
    assert answered() == {"5585999990001": False}


def test_a_wrong_secret_is_a_404(client):
    event = reply_event("x@s.whatsapp.net", "oi")
    assert client.post("/api/webhooks/evolution?token=guess", json=event).status_code == 404
    assert client.post("/api/webhooks/evolution", json=event).status_code == 404
