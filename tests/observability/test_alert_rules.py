"""The alert rules: valid for Prometheus, unit-tested by promtool (every alert firing and quiet), and
each with a severity, a summary, a description and a runbook line linking its section of docs/runbook.md."""

import re

import pytest
from alert_rules import PROMETHEUS_DIR, RULES_FILE, RUNBOOK, UNIT_TESTS, alerts, unit_test_evaluations
from prom_tools import run_promtool

SEVERITIES = {"warning", "critical"}
ALERT_NAMES = [alert["alert"] for alert in alerts()]


def test_promtool_accepts_the_rules_file() -> None:
    checked = run_promtool("check", "rules", RULES_FILE)

    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_promtool_unit_tests_pass() -> None:
    assert UNIT_TESTS, "no unit tests under charts/filas/files/prometheus/tests"

    tested = run_promtool("test", "rules", *[path.relative_to(PROMETHEUS_DIR) for path in UNIT_TESTS],
                          cwd=PROMETHEUS_DIR)

    assert tested.returncode == 0, tested.stdout + tested.stderr


@pytest.mark.parametrize("name", ALERT_NAMES)
def test_every_alert_is_unit_tested_firing_and_quiet(name: str) -> None:
    expectations = {fires for alert, fires in unit_test_evaluations() if alert == name}

    assert expectations == {True, False}, f"{name}: unit tests expecting it to fire / stay quiet: {expectations}"


@pytest.mark.parametrize("alert", alerts(), ids=ALERT_NAMES)
def test_every_alert_says_how_bad_what_and_what_to_do(alert: dict) -> None:
    annotations = alert.get("annotations", {})

    assert alert.get("labels", {}).get("severity") in SEVERITIES
    assert annotations.get("summary") and annotations.get("description")
    assert f"docs/runbook.md#{alert['alert'].lower()}" in annotations.get("runbook", "")
    assert annotations["runbook"].split("docs/runbook.md")[0].strip(), "the runbook line says what to do"


def test_the_runbook_has_a_section_per_alert_and_none_for_alerts_that_do_not_exist() -> None:
    sections = re.findall(r"^## (\S+)$", RUNBOOK.read_text(), flags=re.MULTILINE)

    assert sorted(sections) == sorted(ALERT_NAMES)


def test_alert_names_are_unique() -> None:
    assert len(set(ALERT_NAMES)) == len(ALERT_NAMES)
