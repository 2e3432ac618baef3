"""A patient's "PARAR" reaches every campaign, and a patient's erasure keeps the opt-out: through the gateway's
webhook (the simulator posting it to the API), the worker's sends and the API, as real processes."""

from sqlalchemy import func, select

from filas.db.models import Contact
from filas.db.session import session_scope

REPLIES = "5585999990201"  # answers the first campaign with an opt-out word
ERASED = "5585999990202"  # asks for erasure of their data
STAYS = "5585999990203"


def ended(body: dict) -> bool:
    return body.get("status") in ("finished", "failed", "cancelled")


def send_campaign(api, name: str, numbers: list[str]) -> int:
    contacts = [{"nome": f"Paciente {n[-4:]}", "telefone": n} for n in numbers]
    reply = api.post("/api/campanhas", json={"nome": name, "mensagem": f"Olá! ({name})", "contatos": contacts})
    assert reply.status_code == 201, reply.text
    campaign_id = reply.json()["campanha"]["id"]
    for action in ("validar", "enviar"):
        started = api.post(f"/api/campanhas/{campaign_id}/{action}")
        assert started.status_code == 202, started.text
        assert api.wait_until(started.json()["status_url"], ended)["status"] == "finished"
    return campaign_id


def received_by(whatsapp_sim, campaign_text: str) -> list[str]:
    return sorted(m["e164"] for m in whatsapp_sim.get("/_sim/messages").json() if m["text"] == campaign_text)


def stored_contacts(database_url: str, telefone: str) -> int:
    with session_scope(database_url) as session:
        return session.scalar(select(func.count()).select_from(Contact).where(Contact.telefone == telefone))


def test_an_opt_out_reply_stops_every_campaign_and_an_erasure_keeps_it(api, stack, whatsapp_sim, stack_database_url):
    whatsapp_sim.post("/_sim/config", json={"webhook_url": stack.config.webhook_url}).raise_for_status()
    send_campaign(api, "primeira", [REPLIES, ERASED, STAYS])
    assert received_by(whatsapp_sim, "Olá! (primeira)") == [REPLIES, ERASED, STAYS]

    answer = whatsapp_sim.post("/_sim/reply", json={"number": REPLIES, "text": "Parar"}).json()
    assert answer["webhook"]["status"] == 200, answer
    erased = api.post("/api/dados-pessoais/apagar", json={"telefone": "(85) 99999-0202"})
    assert erased.status_code == 200, erased.text
    assert erased.json()["contatos_apagados"] == 1
    assert stored_contacts(stack_database_url, ERASED) == 0  # the patient's data is gone

    second = send_campaign(api, "segunda", [REPLIES, STAYS])
    assert received_by(whatsapp_sim, "Olá! (segunda)") == [STAYS]
    view = api.get(f"/api/campanhas/{second}").json()["campanha"]
    assert view["mensagens"] == {"enviada": 1, "ignorada": 1}

    # The erased patient stays opted out: a new list with their number does not bring them back.
    third = api.post("/api/campanhas", json={"nome": "terceira", "mensagem": "Olá! (terceira)",
                                              "contatos": [{"nome": "Paciente", "telefone": ERASED},
                                                           {"nome": "Outro", "telefone": STAYS}]})
    assert third.status_code == 201, third.text
    third_id = third.json()["campanha"]["id"]
    for action in ("validar", "enviar"):
        started = api.post(f"/api/campanhas/{third_id}/{action}")
        assert api.wait_until(started.json()["status_url"], ended)["status"] == "finished"
    assert received_by(whatsapp_sim, "Olá! (terceira)") == [STAYS]
