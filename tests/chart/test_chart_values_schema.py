"""values.schema.json refuses bad values with a message naming the value; the chart's own checks refuse
combinations the schema cannot express; values.yaml, the schema and the README's values table agree."""

import json
import subprocess
import sys

import pytest
import yaml
from chart_rendering import CHART, REPO_ROOT, render, render_error

SCHEMA = json.loads((CHART / "values.schema.json").read_text())
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())


def test_the_schema_is_draft_07() -> None:
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert SCHEMA["additionalProperties"] is False


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("api.replicaCount=two", "at '/api/replicaCount': got string, want integer"),
        ("portalWorker.threads=0", "at '/portalWorker/threads'"),
        ("replicaCount=two", "additional properties 'replicaCount' not allowed"),
        ("config.logFormat=xml", "at '/config/logFormat'"),
        ("portalWorker.autoscaling.queues={nope}", "at '/portalWorker/autoscaling/queues/0'"),
        ("config.extra.LOG_LEVEL=debug", "'LOG_LEVEL' does not match pattern '^FILAS_[A-Z0-9_]+$'"),
        ("scheduler.replicaCount=3", "at '/scheduler/replicaCount'"),
        ("campaignWorker.gateway.type=twilio", "at '/campaignWorker/gateway/type'"),
    ],
)
def test_a_bad_value_fails_with_the_schema_message(assignment, message) -> None:
    error = render_error(sets=(assignment,))
    assert "values don't meet the specifications of the schema" in error
    assert message in error


def test_a_string_replica_count_from_a_values_file_fails_too(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text('api:\n  replicaCount: "two"\n')
    assert "at '/api/replicaCount': got string, want integer" in render_error((bad,))


@pytest.mark.parametrize(
    ("assignments", "message"),
    [
        (("redis.url=redis://redis:6379/0", "portalWorker.autoscaling.enabled=true", "portalWorker.keda.enabled=true"),
         "not both"),
        (("campaignWorker.terminationGracePeriodSeconds=100",), "must exceed twice shutdownTimeoutSeconds"),
        (("postgresql.internal.enabled=true",), "postgresql.internal.auth.password"),
        (("api.terminationGracePeriodSeconds=20",), "at '/api/terminationGracePeriodSeconds'"),
        (("portalWorker.keda.enabled=true", "redis.existingSecret=mine"), "keda.redis.address is required"),
    ],
)
def test_the_chart_refuses_inconsistent_values(assignments, message) -> None:
    assert message in render_error(sets=assignments)


def _schema_paths(node: dict, prefix: str = "") -> set[str]:
    if "$ref" in node:
        target = SCHEMA
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    paths = set()
    for key, child in node.get("properties", {}).items():
        paths.add(prefix + key)
        paths |= _schema_paths(child, f"{prefix}{key}.")
    return paths


def _value_paths(values: dict, prefix: str = "") -> set[str]:
    paths = set()
    for key, value in values.items():
        paths.add(prefix + key)
        if isinstance(value, dict) and not key.endswith(("SecurityContext", "resources", "behavior")):
            paths |= _value_paths(value, f"{prefix}{key}.")
    return paths


def test_every_default_value_is_in_the_schema() -> None:
    unknown = {path for path in _value_paths(VALUES) if path not in _schema_paths(SCHEMA)}
    # Free-form maps (labels, annotations, nodeSelector, config.extra ...) are objects in the schema.
    assert not unknown, f"values.yaml keys the schema does not describe: {sorted(unknown)}"


def test_the_readme_values_table_is_current() -> None:
    result = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "chart_readme.py"), "--check"],
                            check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_readme_lists_every_value() -> None:
    readme = (CHART / "README.md").read_text()
    leaves = [path for path in _value_paths(VALUES)
              if not isinstance(_lookup(VALUES, path), dict) or not _lookup(VALUES, path)]
    missing = [path for path in leaves if f"`{path}`" not in readme and not _under_listed_object(path, readme)]
    assert not missing, f"charts/filas/README.md does not list {missing}"


def _lookup(values: dict, path: str):
    for part in path.split("."):
        values = values[part]
    return values


def _under_listed_object(path: str, readme: str) -> bool:
    """A key inside an object listed whole (resources, security contexts, behavior)."""
    parts = path.split(".")
    return any(f"`{'.'.join(parts[:i])}`" in readme for i in range(1, len(parts)))


def test_the_defaults_render() -> None:
    kinds = {obj["kind"] for obj in render()}
    assert {"Deployment", "Service", "ConfigMap", "Secret", "ServiceAccount", "Job", "PodDisruptionBudget"} <= kinds
