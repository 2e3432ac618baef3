"""Who gets a follow-up as each campaign configures it (follow_up_dias, follow_up_max, else the settings'
defaults), counted from the contact's last message that left, on PostgreSQL and on the SQLite of `make run`."""

from datetime import datetime, timedelta, timezone

from follow_up_rows import add_contact, follow_up, initial

from filas.db.models import Contact, MessageStatus
from filas.db.session import session_scope
from filas.opt_outs import record_opt_out
from filas_campaigns import follow_up_records
from filas_campaigns.outgoing import outgoing_message

FORTALEZA = timezone(timedelta(hours=-3))
TODAY = datetime(2026, 11, 24, tzinfo=FORTALEZA)  # local midnight: the day the follow-up runs
REFERENCE_DAY = "2026-11-24"
DEFAULT_MAX, DEFAULT_DAYS = 3, 1


def days_ago(days: int, hh: int = 15) -> datetime:
    return TODAY - timedelta(days=days) + timedelta(hours=hh)


def due(default_max: int = DEFAULT_MAX, default_days: int = DEFAULT_DAYS) -> list[str]:
    pairs = follow_up_records.follow_up_candidates(TODAY, REFERENCE_DAY, default_max, default_days)
    return [contact.telefone for contact, _ in pairs]


def test_the_days_count_from_the_campaigns_setting(database):
    add_contact("5585999990501", [initial(days_ago(1))])  # default: one day
    add_contact("5585999990502", [initial(days_ago(1))], follow_up_dias=2)
    add_contact("5585999990503", [initial(days_ago(2))], follow_up_dias=2)
    add_contact("5585999990504", [initial(days_ago(2, hh=23))], follow_up_dias=2)  # 23:00 two evenings ago
    add_contact("5585999990505", [initial(days_ago(6))], follow_up_dias=7)

    assert due() == ["5585999990501", "5585999990503", "5585999990504"]


def test_the_default_days_come_from_the_settings(database):
    add_contact("5585999990511", [initial(days_ago(1))])
    add_contact("5585999990512", [initial(days_ago(3))])

    assert due(default_days=3) == ["5585999990512"]


def test_the_days_count_from_the_last_message_that_left(database):
    add_contact("5585999990521", [initial(days_ago(9)), follow_up(days_ago(1))], follow_up_dias=3)
    add_contact("5585999990522", [initial(days_ago(9)), follow_up(days_ago(3))], follow_up_dias=3)
    # A follow-up that did not leave (refused by the gateway) does not restart the count...
    add_contact("5585999990523", [initial(days_ago(9)), follow_up(days_ago(1), MessageStatus.FAILED)],
                follow_up_dias=3)
    # ...one whose outcome is unknown may have reached the patient: it does.
    add_contact("5585999990524", [initial(days_ago(9)), follow_up(days_ago(1), MessageStatus.SENDING)],
                follow_up_dias=3)

    assert due() == ["5585999990522", "5585999990523"]


def test_no_more_than_the_campaigns_maximum(database):
    two_sent = [initial(days_ago(9)), follow_up(days_ago(5)), follow_up(days_ago(3))]
    add_contact("5585999990531", two_sent, follow_up_max=2)
    add_contact("5585999990532", two_sent, follow_up_max=3)
    add_contact("5585999990533", two_sent)  # the default maximum
    add_contact("5585999990534", [initial(days_ago(1))], follow_up_max=0)  # follow-ups off for this campaign

    assert due() == ["5585999990532", "5585999990533"]
    assert due(default_max=2) == ["5585999990532"]


def test_who_answered_or_opted_out_gets_none(database):
    answered = add_contact("5585999990541", [initial(days_ago(1))])
    add_contact("5585999990542", [initial(days_ago(1))])
    add_contact("5585999990543", [initial(days_ago(1))])
    add_contact("5585999990544", [initial(days_ago(1), MessageStatus.FAILED)])  # never reached
    with session_scope() as session:
        session.get(Contact, answered).respondeu_em = days_ago(1, hh=18)
        record_opt_out(session, "558599990542", "SAIR")  # the number without its ninth digit: the same key

    assert due() == ["5585999990543"]


def test_the_follow_up_is_rendered_with_the_contacts_fields(database):
    add_contact("5585999990551", [initial(days_ago(1))], nome="Maria", campos={"data": "01/12"},
                modelo="lembrete", modelo_idioma="pt_BR", modelo_parametros=["nome", "data"])

    [(contact, campaign)] = follow_up_records.follow_up_candidates(TODAY, REFERENCE_DAY, DEFAULT_MAX)
    message = outgoing_message(campaign, contact, campaign.mensagem_follow_up)

    assert (message.text, message.template, message.parameters) == ("E aí, Maria?", "lembrete", ("Maria", "01/12"))
