"""A real Prometheus (the installed binary) scraping the test stack's services while bookings flow:
every dashboard query and alert expression evaluates, the dashboards show data, and an alert fires for
a real condition (a booking failed for good leaves a dead letter).

Prometheus scrapes and evaluates every second, and loads the alert rules with every `for` set to 0 s:
the rules' own durations are proven by the promtool unit tests."""

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from alert_rules import alerts, with_for
from dashboard_queries import DASHBOARD_FILES, all_queries, concrete, load, variable_selectors
from prom_tools import missing
from waiting import wait_for

from filas_devtools.ports import HOST
from filas_devtools.prometheus_server import PrometheusNotFound, PrometheusServer
from filas_devtools.stack import Stack, StackConfig

pytestmark = pytest.mark.chromium

NAMESPACE = "filas-test"  # the label Kubernetes service discovery would add; the dashboards filter on it
VALUES = {"namespace": NAMESPACE, "queue": ".*", "__rate_interval": "30s", "__interval": "1s", "__range": "10m"}
BOOKING_SECONDS = 120  # a cold Chromium on a loaded 2-vCPU machine takes a while
SCRAPE_SECONDS = 60
DEAD_LETTER_ALERT = "FilasDeadLettersPresent"
TIME_OF_DAY_ALERTS = {"FilasFollowUpNotRun"}  # depends on when the test runs, not on the stack's health
# Panels that may rightly show nothing here: no retry, cancellation or 5xx happens, and a periodic job
# records its first success only when it is due.
QUIET_PANELS = {
    ("Filas / Overview", "Retries, dead letters and cancellations"),
    ("Filas / Overview", "5xx ratio"),
    ("Filas / Overview", "Time since each periodic job's last success"),
}


def metrics_targets(config: StackConfig) -> dict[str, list[str]]:
    """The API's /metrics and every metrics port the stack's config has (workers, scheduler)."""
    targets = {"api": [f"{HOST}:{config.api_port}"]}
    for name, value in vars(config).items():
        if name.endswith("_metrics_port"):
            targets[name.removesuffix("_metrics_port")] = [f"{HOST}:{value}"]
    return targets


def wait_until_every_target_is_scraped(prometheus: PrometheusServer, config: StackConfig) -> None:
    def scraped() -> bool:
        return {item["metric"]["job"] for item in series(prometheus, "up == 1")} == set(metrics_targets(config))

    wait_for(scraped, SCRAPE_SECONDS, "every service's metrics scraped",
             details=lambda: series(prometheus, "up"))


@pytest.fixture
def prometheus(stack: Stack, clean_stack: None, tmp_path: Path) -> Iterator[PrometheusServer]:
    rules = tmp_path / "filas-alerts.yml"
    rules.write_text(with_for("0s"))
    server = PrometheusServer(metrics_targets(stack.config), [rules], interval="1s", labels={"namespace": NAMESPACE})
    try:
        server.start()
    except PrometheusNotFound as error:
        missing(str(error))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def api(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.api_url, headers={"Authorization": f"Bearer {stack.token}"}, timeout=30) as client:
        yield client


@pytest.fixture
def portal_sim(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.portal_url, timeout=10) as client:
        client.post("/_sim/reset").raise_for_status()
        yield client
        client.post("/_sim/reset").raise_for_status()


def book(api: httpx.Client, lote_id: str) -> dict[str, Any]:
    """Book through the API and wait until the job has ended; its last status."""
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    accepted = api.post("/portal/api/solicitar-agendamento-async", json={
        "lote_id": lote_id, "data_agendamento": tomorrow, "hora_agendamento": "09:00",
        "transportadora": "Transportes Exemplo", "tipo_veiculo": "truck"})
    assert accepted.status_code == 202, accepted.text

    def ended() -> dict[str, Any] | None:
        body = api.get(accepted.json()["status_url"]).json()
        return body if body.get("status") in ("finished", "failed") else None

    return wait_for(ended, BOOKING_SECONDS, f"the booking of {lote_id} ending")


def pause_a_campaign_mid_send(api: httpx.Client, stack: Stack) -> None:
    """A campaign whose send stopped half-way (paused): the campaign dashboard's progress panels show it."""
    def ended(status_url: str) -> dict[str, Any] | None:
        body = api.get(status_url).json()
        return body if body.get("status") in ("finished", "failed", "cancelled") else None

    contacts = [{"nome": f"Paciente {n}", "telefone": f"(85) 99999-{n:04d}"} for n in range(1, 5)]
    with httpx.Client(base_url=stack.whatsapp_url, timeout=10) as sim:
        sim.post("/_sim/reset").raise_for_status()  # whatever failures an earlier test configured
        created = api.post("/api/campanhas", json={"nome": "Painéis", "mensagem": "Olá!", "contatos": contacts})
        campaign_id = created.json()["campanha"]["id"]
        validation = api.post(f"/api/campanhas/{campaign_id}/validar").json()
        assert wait_for(lambda: ended(validation["status_url"]), BOOKING_SECONDS,
                        "the campaign's validation ending")["status"] == "finished"
        sim.post("/_sim/config", json={"latency_ms": 1500}).raise_for_status()
        try:
            sending = api.post(f"/api/campanhas/{campaign_id}/enviar").json()
            wait_for(lambda: (api.get(sending["status_url"]).json()["progresso"] or {}).get("feitos"),
                     BOOKING_SECONDS, "the campaign's first message")
            assert api.post(f"/api/campanhas/{campaign_id}/pausar").status_code in (200, 202)
            wait_for(lambda: ended(sending["status_url"]), BOOKING_SECONDS, "the campaign's send stopping")
        finally:
            sim.post("/_sim/reset").raise_for_status()


def query(prometheus: PrometheusServer, expr: str) -> dict[str, Any]:
    """Prometheus's answer to an instant query, whether it succeeded or not."""
    return httpx.get(f"{prometheus.url}/api/v1/query", params={"query": expr}, timeout=10).json()


def series(prometheus: PrometheusServer, expr: str) -> list[dict[str, Any]]:
    answer = query(prometheus, expr)
    assert answer["status"] == "success", f"{expr}: {answer}"
    return answer["data"]["result"]


def firing(prometheus: PrometheusServer, name: str | None = None) -> list[dict[str, Any]]:
    answer = httpx.get(f"{prometheus.url}/api/v1/alerts", timeout=10).json()
    return [alert for alert in answer["data"]["alerts"] if alert["state"] == "firing"
            and name in (None, alert["labels"]["alertname"])]


def firing_names(prometheus: PrometheusServer) -> set[str]:
    return {alert["labels"]["alertname"] for alert in firing(prometheus)}


def panels_without_data(prometheus: PrometheusServer) -> list[tuple[str, str]]:
    shown: dict[tuple[str, str], bool] = {}
    for item in all_queries():
        key = (item.dashboard, item.panel)
        shown[key] = shown.get(key, False) or bool(series(prometheus, concrete(item.expr, VALUES)))
    return sorted(key for key, has_data in shown.items() if not has_data and key not in QUIET_PANELS)


def test_dashboards_and_alerts_work_on_a_real_prometheus_while_bookings_flow(prometheus, stack, api, portal_sim):
    wait_until_every_target_is_scraped(prometheus, stack.config)
    assert book(api, "LOTE-PROM-OK")["status"] == "finished"
    portal_sim.post("/_sim/config", json={"captcha_lotes": ["LOTE-PROM-CAPTCHA"]}).raise_for_status()
    assert book(api, "LOTE-PROM-CAPTCHA")["status"] == "failed"

    # The booking failed for good: its message is dead-lettered, and the alert sees it.
    wait_for(lambda: firing(prometheus, DEAD_LETTER_ALERT), SCRAPE_SECONDS, f"{DEAD_LETTER_ALERT} firing",
             details=lambda: series(prometheus, 'filas_queue_messages{state="dead"}'))
    [alert] = firing(prometheus, DEAD_LETTER_ALERT)
    assert (alert["labels"]["queue"], alert["labels"]["namespace"]) == ("atacadao", NAMESPACE)
    assert firing_names(prometheus) - TIME_OF_DAY_ALERTS == {DEAD_LETTER_ALERT}, "the rest of the stack is healthy"
    pause_a_campaign_mid_send(api, stack)

    # Every panel shows data (but those that rightly cannot here), once the services have been scraped
    # after the bookings.
    wait_for(lambda: not panels_without_data(prometheus), SCRAPE_SECONDS, "every dashboard panel showing data",
             details=lambda: f"without data: {panels_without_data(prometheus)}")
    assert series(prometheus, 'filas_portal_bookings_total{outcome="booked"} > 0')
    assert series(prometheus, 'filas_portal_bookings_total{outcome="captcha"} > 0')
    assert series(prometheus, "filas_portal_session_valid == 1")


def test_every_alert_expression_and_dashboard_query_evaluates_without_error(prometheus, stack):
    wait_until_every_target_is_scraped(prometheus, stack.config)
    expressions = {alert["alert"]: alert["expr"] for alert in alerts()}
    expressions |= {item.name: concrete(item.expr, VALUES) for item in all_queries()}

    failed = {name: answer for name, expr in expressions.items()
              if (answer := query(prometheus, expr))["status"] != "success"}

    assert not failed


def test_the_dashboards_variables_find_the_namespace_and_the_queues(prometheus, stack):
    wait_until_every_target_is_scraped(prometheus, stack.config)
    for path in DASHBOARD_FILES:
        selectors = variable_selectors(load(path))

        assert label_values(prometheus, concrete(selectors["namespace"], VALUES), "namespace") == [NAMESPACE]
        assert set(label_values(prometheus, concrete(selectors["queue"], VALUES), "queue")) >= {
            "atacadao", "campaigns", "maintenance"}


def label_values(prometheus: PrometheusServer, selector: str, label: str) -> list[str]:
    answer = httpx.get(f"{prometheus.url}/api/v1/label/{label}/values", params={"match[]": selector},
                       timeout=10).json()
    assert answer["status"] == "success", answer
    return answer["data"]
