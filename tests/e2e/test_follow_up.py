"""The daily follow-up, enqueued by name as the scheduler does, against the running workers."""

from datetime import timedelta

from sqlalchemy import update
from test_campaign_flow import ended, start

from filas import contracts
from filas.clock import utcnow
from filas.db.models import Mensagem
from filas.db.session import session_scope

CONTACTS = [
    {"nome": "Responde", "telefone": "(85) 99999-0101"},
    {"nome": "Pede para sair", "telefone": "(85) 99999-0102"},
    {"nome": "Em silêncio", "telefone": "(85) 99999-0103"},
]


def test_follow_up_reaches_only_who_did_not_answer_once_a_day(api, stack, whatsapp_sim, stack_database_url,
                                                              enqueue_by_name):
    whatsapp_sim.post("/_sim/config", json={"webhook_url": stack.config.webhook_url}).raise_for_status()
    reply = api.post("/api/campanhas", json={"nome": "Follow-up", "mensagem": "Olá!",
                                             "mensagem_follow_up": "Ainda podemos ajudar?", "contatos": CONTACTS})
    campanha_id = reply.json()["campanha"]["id"]
    api.wait_until(start(api, campanha_id, "validar")["status_url"], ended)
    api.wait_until(start(api, campanha_id, "enviar")["status_url"], ended)
    with session_scope(stack_database_url) as session:  # the first message went out yesterday
        session.execute(update(Mensagem).values(enviado_em=utcnow() - timedelta(days=1)))
    for number, text in [("5585999990101", "Oi, recebi"), ("5585999990102", "SAIR")]:
        answer = whatsapp_sim.post("/_sim/reply", json={"number": number, "text": text}).json()
        assert answer["webhook"]["status"] == 200, answer
    whatsapp_sim.post("/_sim/reset").raise_for_status()

    first = enqueue_by_name(contracts.FOLLOW_UP.message())
    result = api.wait_until(f"/api/task/{first}/status", ended)

    assert result["status"] == "finished", result
    assert [(m["e164"], m["text"]) for m in whatsapp_sim.get("/_sim/messages").json()] == [
        ("5585999990103", "Ainda podemos ajudar?")]

    second = enqueue_by_name(contracts.FOLLOW_UP.message())
    assert api.wait_until(f"/api/task/{second}/status", ended)["status"] == "finished"
    assert len(whatsapp_sim.get("/_sim/messages").json()) == 1  # same day: nobody hears twice
