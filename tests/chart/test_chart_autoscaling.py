"""Autoscaling on queue depth: the HPA's External metric is the one the code exports (name, labels, states, taken
from filas/metrics.py rather than written here), the KEDA triggers read the Redis lists Dramatiq keeps each
queue's ready messages in, each worker scales on the queues its actors use, one job per worker thread sets the
target, and the API scales on CPU."""

import pytest
from chart_rendering import CHART, by_kind, one, render

from filas import contracts
from filas import metrics as filas_metrics
from filas.queue_depth import NAMESPACE, QueueDepth

FULL = (CHART / "ci" / "full-values.yaml",)
KEDA_EXTERNAL = (CHART / "ci" / "keda-external-redis-values.yaml",)
PORTAL_QUEUES = {contracts.SCHEDULE_BOOKING.queue}
CAMPAIGN_QUEUES = set(contracts.QUEUES) - PORTAL_QUEUES
HPA_ON = ("portalWorker.autoscaling.enabled=true", "campaignWorker.autoscaling.enabled=true")


@pytest.fixture(scope="module")
def exported(monkeypatch_module) -> dict[str, set[str]]:
    """metric name -> label names, as the API's queue-depth collector exports them (Redis faked)."""
    depth = QueueDepth(ready=3, delayed=0, dead=0, in_flight=2, oldest_ready_age_seconds=1.0)
    monkeypatch_module.setattr(filas_metrics, "get_redis", lambda: None)
    monkeypatch_module.setattr(filas_metrics, "queue_depths", lambda _client, queues: dict.fromkeys(queues, depth))
    families = list(filas_metrics.QueueDepthCollector().collect())
    return {family.name: {label for sample in family.samples for label in sample.labels} for family in families}


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def _external_metrics(hpa: dict) -> list[dict]:
    return [metric["external"] for metric in hpa["spec"]["metrics"] if metric["type"] == "External"]


@pytest.mark.parametrize(("deployment", "queues"), [("filas-portal-worker", PORTAL_QUEUES),
                                                    ("filas-campaign-worker", CAMPAIGN_QUEUES)])
def test_worker_hpa_reads_the_queue_depth_metric_the_code_exports(exported, deployment, queues) -> None:
    hpa = one(render(sets=HPA_ON), "HorizontalPodAutoscaler", deployment)
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment}
    externals = _external_metrics(hpa)
    assert {external["metric"]["selector"]["matchLabels"]["queue"] for external in externals} == queues
    for external in externals:
        metric = external["metric"]
        assert metric["name"] in exported, f"{metric['name']} is not exported by filas/metrics.py"
        selector = metric["selector"]
        selector_labels = set(selector["matchLabels"]) | {e["key"] for e in selector["matchExpressions"]}
        assert selector_labels <= exported[metric["name"]]
        states = next(e for e in metric["selector"]["matchExpressions"] if e["key"] == "state")
        assert set(states["values"]) <= set(filas_metrics.STATES)
        assert {"ready", "in_flight"} <= set(states["values"])
        assert external["target"]["type"] == "AverageValue"


def test_hpa_target_is_one_message_per_worker_thread() -> None:
    objects = render(FULL)  # campaign worker: 1 process x 4 threads
    hpa = one(objects, "HorizontalPodAutoscaler", "filas-campaign-worker")
    assert {external["target"]["averageValue"] for external in _external_metrics(hpa)} == {"4"}
    objects = render(sets=(*HPA_ON, "portalWorker.threads=3", "portalWorker.processes=2"))
    hpa = one(objects, "HorizontalPodAutoscaler", "filas-portal-worker")
    assert {external["target"]["averageValue"] for external in _external_metrics(hpa)} == {"6"}


def test_an_autoscaled_deployment_leaves_replicas_to_the_autoscaler() -> None:
    objects = render(FULL)
    deployments = by_kind(objects, "Deployment")
    for name in ("filas-api", "filas-portal-worker", "filas-campaign-worker"):
        assert "replicas" not in deployments[name]["spec"], name
    assert deployments["filas-scheduler"]["spec"]["replicas"] == 2  # standby: the leader lock allows it


def test_keda_scales_each_worker_on_the_redis_lists_of_its_queues() -> None:
    objects = render(KEDA_EXTERNAL)
    for deployment, queues in (("filas-portal-worker", PORTAL_QUEUES), ("filas-campaign-worker", CAMPAIGN_QUEUES)):
        scaled = one(objects, "ScaledObject", deployment)
        assert scaled["apiVersion"] == "keda.sh/v1alpha1"
        assert scaled["spec"]["scaleTargetRef"]["name"] == deployment
        triggers = scaled["spec"]["triggers"]
        assert {trigger["metadata"]["listName"] for trigger in triggers} == {f"{NAMESPACE}:{q}" for q in queues}
        for trigger in triggers:
            assert trigger["type"] == "redis"
            # From redis.url rediss://:s3cret@redis.example.org:6380/2
            assert trigger["metadata"]["address"] == "redis.example.org:6380"
            assert trigger["metadata"]["databaseIndex"] == "2"
            assert trigger["metadata"]["enableTLS"] == "true"
            assert trigger["authenticationRef"]["name"] == "filas-redis"
            assert all(isinstance(value, str) for value in trigger["metadata"].values())
    auth = one(objects, "TriggerAuthentication", "filas-redis")
    assert auth["spec"]["secretTargetRef"] == [{"parameter": "password", "name": "filas", "key": "redis-password"}]
    assert one(objects, "Secret", "filas")["data"]["redis-password"] == "czNjcmV0"  # base64 of s3cret
    assert not by_kind(objects, "HorizontalPodAutoscaler"), "KEDA makes its own HPA"


def test_keda_with_the_in_cluster_redis() -> None:
    scaled = one(render(FULL), "ScaledObject", "filas-portal-worker")
    assert scaled["spec"]["triggers"][0]["metadata"]["address"] == "filas-redis:6379"
    assert scaled["spec"]["triggers"][0]["metadata"]["listLength"] == "3"  # 3 threads in ci/full-values.yaml


def test_api_scales_on_cpu() -> None:
    hpa = one(render(FULL), "HorizontalPodAutoscaler", "filas-api")
    assert hpa["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]


def test_no_autoscaler_by_default() -> None:
    objects = render()
    assert not by_kind(objects, "HorizontalPodAutoscaler") and not by_kind(objects, "ScaledObject")


def test_the_readme_documents_the_prometheus_adapter_rule_for_the_exported_metric(exported) -> None:
    readme = (CHART / "README.md").read_text()
    assert "rules:\n  external:" in readme
    for name in exported:
        if name == "filas_queue_messages":
            assert f'seriesQuery: \'{name}{{' in readme and f'as: "{name}"' in readme
