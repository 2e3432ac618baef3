"""The alert rules file and its promtool unit tests, as data."""

from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO_ROOT / "charts" / "filas" / "files" / "prometheus"
RULES_FILE = PROMETHEUS_DIR / "filas-alerts.yml"
UNIT_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
RUNBOOK = REPO_ROOT / "docs" / "runbook.md"


def load_rules() -> dict[str, Any]:
    return yaml.safe_load(RULES_FILE.read_text())


def alerts() -> list[dict[str, Any]]:
    return [rule for group in load_rules()["groups"] for rule in group["rules"] if "alert" in rule]


def with_for(duration: str) -> str:
    """The rules file with every alert's `for` replaced by `duration` (tests cannot wait 5 minutes)."""
    rules = load_rules()
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                rule["for"] = duration
    return yaml.safe_dump(rules, sort_keys=False)


def unit_test_evaluations() -> list[tuple[str, bool]]:
    """(alert name, whether it is expected to fire) for every alert_rule_test of every unit test file."""
    found = []
    for path in UNIT_TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            for evaluation in test.get("alert_rule_test", []):
                found.append((evaluation["alertname"], bool(evaluation.get("exp_alerts"))))
    return found
