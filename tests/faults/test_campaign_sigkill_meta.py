"""The campaign fault test through the WhatsApp Cloud API (FILAS_WHATSAPP_GATEWAY=meta, against its simulator):
a 3,000-contact campaign that names an approved template, and a second one beside it, sent while the campaign
workers (two processes) are SIGKILLed again and again and restarted as Kubernetes would, while the Cloud API
answers 130429 (throughput), 429 with Retry-After, then 5xx, for a while — and posts every message's status
webhooks, signed with the app secret, to the API.

The Cloud API has no number check and cannot look a message up: every well-formed number is valid until its
status webhook says it is undeliverable (131026), and a send cut off by a kill is settled by its status webhook
(which echoes our message row id in biz_opaque_callback_data) or, when none comes within
FILAS_CAMPAIGN_UNKNOWN_SEND_WAIT_SECONDS, taken as never sent and sent again.

What must hold:
- every number that did not opt out is sent the template (with the contact's name as its parameter) exactly
  once; opted-out numbers get nothing;
- each message row carries the simulator's id of its own message, none is left 'enviando'; the delivery
  statuses the webhooks reported are recorded ('entregue'; 'falhou' and the contact invalid for numbers
  without WhatsApp);
- every webhook of the simulator was accepted, and one signed with another secret (or not signed) is
  refused and changes nothing;
- the rate the Cloud API sees, across both campaigns and both worker processes, never exceeds the configured
  limit in any one-second window;
- both campaigns end 'enviada'."""

import hashlib
import hmac
import json
import time
from collections import Counter
from datetime import datetime
from typing import Any

import httpx
import pytest
from arrivals import busiest_second
from faultkit import (
    FAST_RECOVERY,
    Api,
    FaultSystem,
    campaign_system,
    kill_and_restart_worker,
    mobile,
    spaced_faults,
    start_task,
    task_ended,
    wait_for,
)

pytestmark = pytest.mark.timeout(600)

RATE = 100  # messages per second for the sending number
UNKNOWN_SEND_WAIT = 30  # s: a cut-off send no status webhook settled is sent again after this long. The
# simulator posts its webhooks one at a time: at 100 messages/s on 2 vCPUs they lag up to ~13 s behind the sends.
SETTINGS = FAST_RECOVERY | {
    "FILAS_WHATSAPP_GATEWAY": "meta",
    "FILAS_WHATSAPP_RATE_PER_SECOND": str(RATE),
    "FILAS_CAMPAIGN_CHUNK_SIZE": "200",
    "FILAS_CAMPAIGN_UNKNOWN_SEND_WAIT_SECONDS": str(UNKNOWN_SEND_WAIT),
}
TEMPLATE = "lembrete_busca_ativa"
LANGUAGE = "pt_BR"

VALID = 2_880  # mobiles with WhatsApp ...
LEGACY = range(0, VALID, 60)  # ... some known by their old id (wa_id), without the 9th digit
OPTED_OUT = range(7, VALID, 95)  # ... some that opted out
NO_WHATSAPP = 80  # mobiles without WhatsApp: accepted, then a 131026 status webhook
LANDLINES = 40  # well-formed, so sent; undeliverable too
SECOND_CAMPAIGN = 1_000  # sent at the same time, by the other worker process, on the same number
SENDS_BETWEEN_FAULTS = 350  # message rows of the first campaign
THROUGHPUT = 8  # sends answered 400 code 130429 (no Retry-After: the gateway waits its default 1 s)
THROTTLED = 8  # sends answered 429 with Retry-After: 2 s
SERVER_ERRORS = 6  # sends answered 503 code 131016
FAULTS = [
    ("kill", None),
    ("gateway", {"fail_next_sends": THROUGHPUT, "fail_status": 400, "fail_code": 130429, "retry_after": None}),
    ("kill", None),
    ("gateway", {"fail_next_sends": THROTTLED, "fail_status": 429, "fail_code": 80007, "retry_after": 2}),
    ("kill", None),
    ("gateway", {"fail_next_sends": SERVER_ERRORS, "fail_status": 503, "fail_code": 131016, "retry_after": None}),
]


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    with campaign_system(tmp_path_factory.mktemp("faults-campaign-sigkill-meta"), "meta-sim", SETTINGS) as running:
        yield running


def cut_off_sends(system: FaultSystem, campaign_ids: list[int]) -> tuple[set[int], set[int]]:
    """SIGKILL both worker processes, start them again. Returns the sends the kill cut off: the rows of the
    chunks it interrupted (claimed together, some still 'enviando' once no worker is alive), as (those whose
    message had left — their status webhook made them 'enviada' or 'falhou', the worker never recorded them —,
    those still 'enviando')."""
    rows = kill_and_restart_worker(system, lambda: message_rows(system.database_url, campaign_ids))
    interrupted = {(row["campaign_id"], row["criado_em"]) for row in rows if row["status"] == "enviando"}
    chunks = [row for row in rows if (row["campaign_id"], row["criado_em"]) in interrupted]
    return ({row["id"] for row in chunks if row["status"] in ("enviada", "falhou")},
            {row["id"] for row in chunks if row["status"] == "enviando"})


def create_template_campaign(api: Api, contacts: dict[str, str], name: str) -> int:
    """A campaign of `contacts` (number -> name) that sends TEMPLATE with the contact's name as {{1}}."""
    reply = api.post("/api/campanhas", json={
        "nome": name,
        "mensagem": "Olá, {nome}! Sua consulta está disponível.",  # not sent: the Cloud API needs the template
        "modelo": {"nome": TEMPLATE, "idioma": LANGUAGE, "parametros": ["nome"]},
        "contatos": [{"nome": nome, "telefone": telefone} for telefone, nome in contacts.items()],
    })
    assert reply.status_code == 201, reply.text
    return reply.json()["campanha"]["id"]


def message_rows(database_url: str, campaign_ids: list[int]) -> list[dict[str, Any]]:
    """Every message row of the campaigns, with its contact's number and WhatsApp status."""
    from sqlalchemy import select

    from filas.db.models import CampaignMessage, Contact
    from filas.db.session import session_scope

    with session_scope(database_url) as session:
        return [row._asdict() for row in session.execute(
            select(CampaignMessage.id, CampaignMessage.campaign_id, CampaignMessage.criado_em,
                   CampaignMessage.status, CampaignMessage.gateway_message_id,
                   CampaignMessage.entrega, CampaignMessage.erro, Contact.telefone, Contact.whatsapp_status)
            .join(Contact, Contact.id == CampaignMessage.contact_id)
            .where(CampaignMessage.campaign_id.in_(campaign_ids))
        ).all()]


def delivery_of(database_url: str, message_id: int) -> str | None:
    from filas.db.models import CampaignMessage
    from filas.db.session import session_scope

    with session_scope(database_url) as session:
        return session.get(CampaignMessage, message_id).entrega


def status_event(phone_number_id: str, wamid: str, state: str, reference: str, recipient: str) -> bytes:
    """A Cloud API status webhook, as Meta posts it."""
    status = {"id": wamid, "status": state, "timestamp": str(int(time.time())), "recipient_id": recipient,
              "biz_opaque_callback_data": reference}
    metadata = {"display_phone_number": "558540040000", "phone_number_id": phone_number_id}
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "200000000000002", "changes": [
        {"value": {"messaging_product": "whatsapp", "metadata": metadata, "statuses": [status]},
         "field": "messages"}]}]}).encode()


def webhook_delays(api_log: str, received: list[dict[str, Any]]) -> list[float]:
    """Per message, how long after the Cloud API accepted it the API applied its first status webhook (from
    the API's JSON log lines): a cut-off send is released after UNKNOWN_SEND_WAIT, so this must stay below."""
    accepted = {message["id"]: message["at"] for message in received}
    first: dict[str, float] = {}
    for line in api_log.splitlines():
        if "delivery status" not in line or not line.startswith("{"):
            continue
        entry = json.loads(line)
        wamid = entry["message"].split(" of message ", 1)[-1].split(":", 1)[0]
        if wamid in accepted and wamid not in first:
            first[wamid] = datetime.fromisoformat(entry["time"]).timestamp()
    return sorted(first[wamid] - accepted[wamid] for wamid in first)


def signed(raw: bytes, secret: str) -> dict[str, str]:
    return {"Content-Type": "application/json",
            "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()}


def test_template_campaigns_survive_sigkills_and_a_throttling_cloud_api_messaging_everyone_once(
    system, fault_report
):
    api, config = system.api, system.stack.config
    valid = {mobile(n): f"Paciente {n}" for n in range(VALID)}
    no_whatsapp = {mobile(VALID + n): f"Sem WhatsApp {n}" for n in range(NO_WHATSAPP)}
    landlines = {f"55853{n:07d}": f"Fixo {n}" for n in range(LANDLINES)}
    second = {mobile(VALID + NO_WHATSAPP + n): f"Segunda {n}" for n in range(SECOND_CAMPAIGN)}
    numbers = list(valid)
    opted_out = {numbers[n] for n in OPTED_OUT}
    undeliverable = set(no_whatsapp) | set(landlines)
    names = valid | no_whatsapp | landlines | second
    expected = (set(valid) - opted_out) | undeliverable | set(second)  # every number the Cloud API must get once

    with httpx.Client(base_url=config.meta_url, timeout=30) as meta:
        meta.post("/_sim/reset").raise_for_status()
        meta.post("/_sim/config", json={"webhook_url": config.meta_webhook_url, "templates": [TEMPLATE],
                                        "undeliverable": sorted(undeliverable),
                                        "legacy_numbers": [numbers[n] for n in LEGACY],
                                        "latency_ms": 5}).raise_for_status()
        assert meta.get("/_sim/config").json()["app_secret"], "the simulator must sign its webhooks"
        campaign_id = create_template_campaign(api, valid | no_whatsapp | landlines, "Busca ativa (falhas, Meta)")
        second_id = create_template_campaign(api, second, "Segunda campanha (Meta)")
        for telefone in opted_out:
            assert api.post("/api/optouts", json={"telefone": telefone}).status_code == 201

        # The Cloud API checks no number: every well-formed one is valid until its status webhook says otherwise.
        validations = [start_task(api, campaign_id, "validar"), start_task(api, second_id, "validar")]
        validated = [task_ended(api, task["status_url"], timeout=120) for task in validations]
        assert [task["status"] for task in validated] == ["finished", "finished"], validated
        first = validated[0]["resultado"]
        assert (first["validos"], first["invalidos"], first["numeros_verificados"]) == (len(names) - len(second), 0,
                                                                                        False), first

        sendings = [start_task(api, campaign_id, "enviar"), start_task(api, second_id, "enviar")]
        had_left, unknown = set(), set()
        for fault, change in spaced_faults(system, campaign_id, FAULTS, SENDS_BETWEEN_FAULTS, VALID):
            if fault == "kill":
                left, not_yet = cut_off_sends(system, [campaign_id, second_id])
                had_left, unknown = had_left | left, unknown | not_yet
            else:
                meta.post("/_sim/config", json=change).raise_for_status()
        sent_tasks = [task_ended(api, task["status_url"], timeout=300) for task in sendings]
        ended_at = time.time()
        received = meta.get("/_sim/messages").json()
        # Each accepted send posts "sent" then "delivered", or one "failed" for an undeliverable number.
        webhooks_due = sum(1 if message["to"] in undeliverable else 2 for message in received)
        webhooks = wait_for(lambda: len(posted := meta.get("/_sim/webhooks").json()) >= webhooks_due and posted,
                            "every status webhook posted", timeout=180)
        drained_after = time.time() - ended_at

    rows = message_rows(system.database_url, [campaign_id, second_id])
    per_number = Counter(message["to"] for message in received)
    twice = {telefone: times for telefone, times in per_number.items() if times > 1}
    by_status = Counter(row["status"] for row in rows)
    by_delivery = Counter(row["entrega"] for row in rows)
    delays = webhook_delays(system.log("api"), received) or [float("nan")]
    webhook_answers = Counter(webhook.get("status", webhook.get("error")) for webhook in webhooks)
    busiest = busiest_second([message["at"] for message in received])
    span = max(m["at"] for m in received) - min(m["at"] for m in received)
    # Of the cut-off rows still 'enviando' after the kill, one still there at the end was settled by a late
    # status webhook; one gone was released after UNKNOWN_SEND_WAIT and its contact sent a new message (new row).
    late = unknown & {row["id"] for row in rows}
    fault_report(f"while sending {len(expected)} template messages (Cloud API simulator): "
                 f"{sum(f == 'kill' for f, _ in FAULTS)} SIGKILLs of 2 worker processes, {THROUGHPUT} × 130429, "
                 f"{THROTTLED} × 429 (Retry-After 2 s), {SERVER_ERRORS} × 503; tasks: "
                 f"{[(t['status'], t['tentativas']) for t in sent_tasks]}")
    fault_report(f"message rows: {dict(by_status)}; deliveries: {dict(by_delivery)}; duplicates at the gateway: "
                 f"{len(twice)}")
    fault_report(f"sends cut off by the kills: {len(had_left) + len(unknown)}; {len(had_left) + len(late)} had left, "
                 f"settled by their status webhook ({len(late)} after the kill); {len(unknown - late)} had not, sent "
                 f"again after {UNKNOWN_SEND_WAIT} s")
    fault_report(f"status webhooks: {len(webhooks)} signed, answered {dict(webhook_answers)}, all posted "
                 f"{drained_after:.0f} s after the tasks ended; first status applied after the send: median "
                 f"{delays[len(delays) // 2]:.2f} s, slowest {delays[-1]:.2f} s (a cut-off send waits "
                 f"{UNKNOWN_SEND_WAIT} s)")
    fault_report(f"rate at the gateway: limit {RATE}/s, busiest second {busiest}, mean {len(received) / span:.1f}/s "
                 f"over {span:.0f} s")

    assert not twice, f"messaged more than once: {twice}"
    assert [task["status"] for task in sent_tasks] == ["finished", "finished"], sent_tasks
    assert set(per_number) == expected, "not every number got the message, or someone else did"
    wrong = [m for m in received if m["type"] != "template" or m["template"] != {
        "name": TEMPLATE, "language": LANGUAGE, "parameters": [names[m["to"]]]}]
    assert not wrong, f"{len(wrong)} messages are not the template with the contact's name, e.g. {wrong[0]}"
    assert by_status["enviando"] == 0, "a send left with its outcome unknown"
    assert len(rows) == len({row["telefone"] for row in rows}), "a contact with two message rows"
    assert {row["telefone"] for row in rows if row["status"] == "ignorada"} == opted_out
    assert {row["telefone"] for row in rows if row["status"] == "enviada"} == expected - undeliverable
    assert {row["telefone"] for row in rows if row["status"] == "falhou"} == undeliverable
    by_gateway_id = {message["id"]: message for message in received}
    mismatched = [row for row in rows if row["status"] != "ignorada" and (
        (message := by_gateway_id.get(row["gateway_message_id"])) is None or message["to"] != row["telefone"]
        or message["biz_opaque_callback_data"] != str(row["id"]))]
    assert not mismatched, f"rows not carrying the gateway's id of their own message: {mismatched[:3]}"
    assert webhook_answers == {200: len(webhooks)}, "a webhook of the simulator was not accepted"
    not_delivered = [row for row in rows if row["status"] == "enviada" and row["entrega"] != "entregue"]
    assert not not_delivered, f"{len(not_delivered)} delivered messages not recorded so, e.g. {not_delivered[:3]}"
    failed = [row for row in rows if row["status"] == "falhou"]
    assert all(row["entrega"] == "falhou" and "131026" in (row["erro"] or "") and row["whatsapp_status"] == "invalido"
               for row in failed), failed[:3]
    assert busiest <= RATE, f"{busiest} messages reached the gateway within one second (limit {RATE}/s)"
    for campaign in (campaign_id, second_id):
        assert api.get(f"/api/campanhas/{campaign}").json()["campanha"]["status"] == "enviada"

    # Only Meta's signature makes a webhook count: a "read" status signed with another secret, or not at all,
    # or a signed body altered on the way, is refused and changes nothing; the same status, signed, is applied.
    row = next(row for row in rows if row["status"] == "enviada")
    raw = status_event(config.meta_phone_number_id, row["gateway_message_id"], "read", str(row["id"]),
                       row["telefone"])
    secret = config.secrets.meta_app_secret
    with httpx.Client(base_url=config.api_url, timeout=30) as meta_posting:
        refused = {
            "another secret": meta_posting.post("/api/webhooks/meta", content=raw,
                                                headers=signed(raw, secret[::-1])).status_code,
            "no signature": meta_posting.post("/api/webhooks/meta", content=raw,
                                              headers={"Content-Type": "application/json"}).status_code,
            "altered body": meta_posting.post("/api/webhooks/meta", content=raw.replace(b'"read"', b'"failed"'),
                                              headers=signed(raw, secret)).status_code,
        }
        unchanged = delivery_of(system.database_url, row["id"])
        accepted = meta_posting.post("/api/webhooks/meta", content=raw, headers=signed(raw, secret))
    fault_report(f"forged webhooks: {refused}; the same one signed with the app secret: {accepted.status_code}")
    assert refused == {"another secret": 403, "no signature": 401, "altered body": 403}, refused
    assert unchanged == "entregue", "a webhook not signed by Meta changed a message"
    assert accepted.status_code == 200 and accepted.json()["entregas"] == 1, accepted.text
    assert delivery_of(system.database_url, row["id"]) == "lida"
