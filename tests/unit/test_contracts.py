"""The contract between services: every declared actor has exactly one implementation, in a worker,
with the declared arguments; the scheduler sends only declared actors; services stay apart."""

import ast
import importlib
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import dramatiq
import pytest
from pydantic import ValidationError

from filas import contracts

ROOT = Path(__file__).resolve().parents[2]
WORKER_MODULES = ("filas_portal.worker", "filas_campaigns.worker")


def implementations() -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for module_name in WORKER_MODULES:
        module = importlib.import_module(module_name)
        for value in vars(module).values():
            if isinstance(value, dramatiq.Actor):
                found[value.actor_name].append(module_name)
    return found


def test_every_declared_actor_has_exactly_one_implementation():
    found = implementations()
    assert {name: len(modules) for name, modules in found.items()} == {c.name: 1 for c in contracts.ALL}


def test_implementations_listen_on_the_declared_queue_with_the_declared_options():
    implementations()  # registers the actors on the broker
    broker = dramatiq.get_broker()
    for contract in contracts.ALL:
        actor = broker.get_actor(contract.name)
        assert actor.queue_name == contract.queue
        assert actor.options["max_retries"] == contract.max_retries
        assert actor.options["time_limit"] == contract.time_limit_ms


def test_binding_an_implementation_with_other_arguments_is_refused():
    def wrong(campaign_id: int):  # the booking contract takes integracao_id
        return campaign_id

    with pytest.raises(TypeError, match="integracao_id"):
        contracts.SCHEDULE_BOOKING.bind(wrong)


def test_a_message_with_arguments_outside_the_contract_is_refused():
    with pytest.raises(ValidationError):
        contracts.SCHEDULE_BOOKING.message(booking_id="not a number")
    with pytest.raises(ValidationError):
        contracts.SEND_CAMPAIGN.message(campaign_id=1, extra=True)
    message = contracts.SEND_CAMPAIGN.message(campaign_id=7)
    assert (message.actor_name, message.queue_name, message.kwargs) == ("campaigns.send_campaign", "campaigns",
                                                                        {"campanha_id": 7})


def test_the_scheduler_sends_only_declared_actors_on_their_declared_queues():
    from dramatiq.brokers.stub import StubBroker

    from filas_scheduler.leader_tasks import LeaderTask
    from filas_scheduler.schedules import register

    entries = register(StubBroker())
    sent = [entry for entry in entries if not isinstance(entry, LeaderTask)]
    assert {actor.actor_name for actor in sent} == {"campaigns.follow_up", "maintenance.cleanup"}
    assert [entry.actor_name for entry in entries if isinstance(entry, LeaderTask)] == ["maintenance.reconcile"]
    for actor in sent:
        contract = contracts.BY_NAME[actor.actor_name]
        assert actor.queue_name == contract.queue
        assert contract.arguments.model_fields == {}


def _python_files(*folders: str):
    for folder in folders:
        yield from (ROOT / folder).rglob("*.py")


def test_messages_are_built_only_from_contracts():
    """Every enqueue goes through ActorContract.message(), which validates the declared arguments."""
    offenders = []
    for path in _python_files("filas", "services"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "attr", getattr(node.func, "id", ""))
                if name in ("Message", "send_with_options") and path.name != "contracts.py":
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_no_service_imports_another_and_the_core_imports_no_service():
    result = subprocess.run([str(Path(sys.executable).parent / "lint-imports")], check=False, cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
