"""Every object the chart renders (defaults and every ci/*.yaml, hooks included) validates against the
Kubernetes schemas of 1.30 and of the newest version kubernetes-validate ships, strictly (no unknown fields).

Custom resources (prometheus-operator, KEDA) have no schema in kubernetes-validate: they are checked for the
fields their controllers require instead, and any other kind without a schema fails the test."""

from typing import Any

import kubernetes_validate
import pytest
from chart_rendering import VALUES_CASES, render
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError, latest_version

OLDEST = "1.30.0"
NEWEST = latest_version()
CUSTOM_RESOURCES = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ("selector", "endpoints"),
    ("monitoring.coreos.com/v1", "PodMonitor"): ("selector", "podMetricsEndpoints"),
    ("monitoring.coreos.com/v1", "PrometheusRule"): ("groups",),
    ("keda.sh/v1alpha1", "ScaledObject"): ("scaleTargetRef", "triggers"),
    ("keda.sh/v1alpha1", "TriggerAuthentication"): ("secretTargetRef",),
}


def _validate(obj: dict[str, Any], version: str) -> str | None:
    """None when valid; else what is wrong."""
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except ValidationError as error:
        where = ".".join(str(part) for part in error.path)
        return f"{obj['kind']}/{obj['metadata']['name']} against {version}: {where}: {error.message}"
    except SchemaNotFoundError:
        required = CUSTOM_RESOURCES.get((obj["apiVersion"], obj["kind"]))
        if required is None:
            return f"{obj['apiVersion']} {obj['kind']}: no schema, and not a custom resource the chart knows"
        missing = [field for field in required if not obj.get("spec", {}).get(field)]
        if missing or not obj["metadata"].get("name"):
            return f"{obj['kind']}/{obj['metadata'].get('name')}: spec lacks {missing}"
    return None


def test_the_newest_schemas_are_newer_than_1_30() -> None:
    assert tuple(int(part) for part in NEWEST.split(".")[:2]) >= (1, 37)


@pytest.mark.parametrize("version", [OLDEST, NEWEST])
@pytest.mark.parametrize("values_files", VALUES_CASES)
def test_every_rendered_object_validates_strictly(values_files, version) -> None:
    objects = render(values_files)
    assert objects
    problems = [problem for obj in objects if (problem := _validate(obj, version))]
    assert not problems, "\n".join(problems)


def test_a_broken_object_is_caught() -> None:
    """The validator is really strict: a string replica count and an unknown field are both refused."""
    deployment = next(obj for obj in render() if obj["kind"] == "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replicas": "two"}}
    assert _validate(broken, NEWEST) is not None
    unknown = {**deployment, "spec": {**deployment["spec"], "replicaCount": 2}}
    assert _validate(unknown, OLDEST) is not None


@pytest.mark.parametrize(
    "sets",
    [
        ("portalWorker.enabled=false", "campaignWorker.enabled=false", "scheduler.enabled=false",
         "migrations.enabled=false"),
        ("serviceAccount.create=false", "serviceAccount.name=mine", "api.pdb.minAvailable=1",
         "api.service.type=NodePort", "api.service.nodePort=30080", "topologySpread.enabled=false"),
        ("redis.internal.enabled=true", "redis.internal.existingSecret=redis-auth", "portalWorker.keda.enabled=true",
         "postgresql.internal.enabled=true", "postgresql.internal.auth.existingSecret=pg-auth",
         "networkPolicy.enabled=true"),
        ("redis.existingSecret=redis", "campaignWorker.keda.enabled=true", "keda.redis.address=redis:6379",
         "keda.redis.existingSecret=keda-redis"),
    ],
    ids=["api-only", "own-service-account-nodeport", "in-cluster-with-own-secrets", "keda-own-secret"],
)
def test_other_value_combinations_validate(sets) -> None:
    problems = [problem for obj in render(sets=sets) for version in (OLDEST, NEWEST)
                if (problem := _validate(obj, version))]
    assert not problems, "\n".join(problems)
