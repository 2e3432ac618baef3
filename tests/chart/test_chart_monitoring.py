"""The PrometheusRule and the Grafana dashboard ConfigMaps carry the files under charts/filas/files/ unchanged
(the one copy tests/observability checks), behind toggles, with configurable labels; a ServiceMonitor and a
PodMonitor per component point at the ports that serve /metrics."""

import json

import pytest
import yaml
from chart_rendering import CHART, by_kind, container, render

FULL = (CHART / "ci" / "full-values.yaml",)
RULES = CHART / "files" / "prometheus" / "filas-alerts.yml"
DASHBOARDS = sorted((CHART / "files" / "grafana" / "dashboards").glob("*.json"))


def test_monitoring_objects_are_off_by_default() -> None:
    objects = render()
    for kind in ("ServiceMonitor", "PodMonitor", "PrometheusRule"):
        assert not by_kind(objects, kind)
    assert not [cm for cm in by_kind(objects, "ConfigMap").values() if "grafana_dashboard" in cm["metadata"]["labels"]]


def test_the_prometheus_rule_is_the_alerts_file() -> None:
    rules = by_kind(render(FULL), "PrometheusRule")
    assert list(rules) == ["filas"]
    rule = rules["filas"]
    assert rule["spec"] == yaml.safe_load(RULES.read_text())
    assert rule["metadata"]["labels"]["release"] == "prometheus"


def test_each_dashboard_is_a_configmap_for_the_grafana_sidecar() -> None:
    assert DASHBOARDS
    maps = [cm for cm in by_kind(render(FULL), "ConfigMap").values()
            if cm["metadata"]["labels"].get("grafana_dashboard")]
    shipped = {name: content for cm in maps for name, content in cm["data"].items()}
    assert shipped == {path.name: path.read_text().rstrip("\n") for path in DASHBOARDS}
    for cm in maps:
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert cm["metadata"]["labels"]["team"] == "operations"
        assert cm["metadata"]["annotations"]["grafana_folder"] == "Filas"
        for content in cm["data"].values():
            assert json.loads(content)["panels"]


def test_the_dashboard_label_is_configurable() -> None:
    objects = render(FULL, sets=("metrics.dashboards.label=dashboards", "metrics.dashboards.labelValue=filas",
                                 "metrics.dashboards.namespace=grafana"))
    maps = [cm for cm in by_kind(objects, "ConfigMap").values() if "dashboards" in cm["metadata"]["labels"]]
    assert len(maps) == len(DASHBOARDS)
    assert {cm["metadata"]["labels"]["dashboards"] for cm in maps} == {"filas"}
    assert {cm["metadata"]["namespace"] for cm in maps} == {"grafana"}


@pytest.mark.parametrize("kind", ["ServiceMonitor", "PodMonitor"])
def test_every_component_is_scraped_on_the_port_serving_its_metrics(kind) -> None:
    objects = render(FULL)
    monitors = by_kind(objects, kind)
    assert set(monitors) == {"filas-api", "filas-portal-worker", "filas-campaign-worker", "filas-scheduler"}
    for name, monitor in monitors.items():
        endpoints = monitor["spec"]["endpoints" if kind == "ServiceMonitor" else "podMetricsEndpoints"]
        port = endpoints[0]["port"]
        assert endpoints[0]["path"] == "/metrics"
        assert port in {p["name"] for p in container(objects, name)["ports"]}
        if kind == "ServiceMonitor":
            services = [svc for svc in by_kind(objects, "Service").values()
                        if monitor["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()]
            assert len(services) == 1 and port in {p["name"] for p in services[0]["spec"]["ports"]}


def test_worker_metrics_services_keep_unready_pods_scrapable() -> None:
    """A worker is unready while its consumers cannot poll Redis: its metrics must stay scrapable then."""
    services = {name: svc for name, svc in by_kind(render(), "Service").items() if name.endswith("-metrics")}
    assert set(services) == {"filas-portal-worker-metrics", "filas-campaign-worker-metrics", "filas-scheduler-metrics"}
    for service in services.values():
        assert service["spec"]["publishNotReadyAddresses"] is True
