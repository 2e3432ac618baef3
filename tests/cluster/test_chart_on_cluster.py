"""The chart on a live cluster (`make test-cluster`): install, work through the API Service, scale, upgrade,
uninstall. The tests run in this order and share one release (installed by the first one that needs it)."""

import datetime
import os
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from cluster_access import CHART, RELEASE, VALUES, Kube
from waiting import wait_for

# The first test also starts the cluster (about 35 s), imports the images and installs the release.
pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]

AUTH = {"Authorization": "Bearer cluster-test-token"}
FORTALEZA = ZoneInfo("America/Fortaleza")
BOOKING_SECONDS = 180  # a booking on a busy 2-core node, browser start included
HARDENED = {"runAsNonRoot": True, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False}
FILAS_COMPONENTS = ("api", "portal-worker", "campaign-worker", "scheduler")
# The custom resources the chart's optional objects are (KEDA, prometheus-operator).
CRDS = ("scaledobjects.keda.sh", "triggerauthentications.keda.sh", "servicemonitors.monitoring.coreos.com",
        "podmonitors.monitoring.coreos.com", "prometheusrules.monitoring.coreos.com")


@pytest.fixture(scope="module")
def kube_with_crds(kube: Kube) -> Iterator[Kube]:
    """The cluster with the CRDs of KEDA and prometheus-operator (scripts/generate-crds.sh, FILAS_TEST_CRDS); the
    ones this fixture created are deleted afterwards (a cluster that had them keeps its own)."""
    directory = Path(os.environ.get("FILAS_TEST_CRDS", ""))
    if not directory.name or not directory.is_dir():
        pytest.fail("FILAS_TEST_CRDS must name the CRDs of scripts/generate-crds.sh (`make test-cluster` does)")
    missing = [name for name in CRDS if kube.kubectl("get", f"crd/{name}", check=False).returncode != 0]
    for name in missing:
        plural, group = name.split(".", 1)
        kube.kubectl("apply", "--server-side", "-f", str(directory / f"{group}_{plural}.yaml"))
        kube.kubectl("wait", "--for=condition=Established", f"crd/{name}", "--timeout=60s")
    yield kube
    for name in missing:
        kube.kubectl("delete", f"crd/{name}", check=False)


@pytest.fixture
def api(installed: Kube) -> Iterator[httpx.Client]:
    with installed.port_forward(f"svc/{RELEASE}-api", 80) as client:
        yield client


@pytest.fixture
def portal_sim(installed: Kube) -> Iterator[httpx.Client]:
    with installed.port_forward("svc/portal-sim", 8101) as client:
        yield client
        client.post("/_sim/config", json={"delay_ms": 0}).raise_for_status()


def test_install_migrates_before_any_filas_pod_and_every_pod_is_ready_and_hardened(installed: Kube) -> None:
    migrated_at = _migration_completed_at(installed)
    for component in FILAS_COMPONENTS:
        pods = installed.pods(component)
        assert pods, f"no {component} pod"
        for pod in pods:
            assert _ready(pod), f"{pod['metadata']['name']} is not Ready: {pod['status'].get('conditions')}"
            created = _time(pod["metadata"]["creationTimestamp"])
            assert created >= migrated_at, f"{pod['metadata']['name']} was created before the migrations ended"
            for container in pod["spec"]["containers"]:
                context = container["securityContext"]
                assert {key: context.get(key) for key in HARDENED} == HARDENED, container["name"]
                assert context["capabilities"]["drop"] == ["ALL"], container["name"]
            assert pod["spec"]["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"


def test_a_booking_through_the_api_service_finishes_with_its_protocol(api: httpx.Client, portal_sim) -> None:
    job_id = _book(api, "K8S-0001")
    status = _wait_final(api, job_id)
    assert status["status"] == "finished", status
    assert status["resultado"]["protocolo"]
    assert [b["lote"] for b in portal_sim.get("/_sim/bookings", params={"lote": "K8S-0001"}).json()] == ["K8S-0001"]


def test_a_campaign_is_validated_and_sent_through_the_whatsapp_simulator(installed: Kube, api: httpx.Client) -> None:
    created = api.post("/api/campanhas", headers=AUTH, json={
        "nome": "Cluster", "mensagem": "Olá, {nome}!",
        "contatos": [{"nome": "Maria", "telefone": "(85) 99999-0001"},
                     {"nome": "José", "telefone": "(85) 98888-0002"}],
    })
    assert created.status_code == 201, created.text
    campaign = created.json()["campanha"]["id"]
    validated = _wait_task(api, api.post(f"/api/campanhas/{campaign}/validar", headers=AUTH))
    assert validated["resultado"]["validos"] == 2, validated
    sent = _wait_task(api, api.post(f"/api/campanhas/{campaign}/enviar", headers=AUTH))
    assert sent["status"] == "finished", sent
    with installed.port_forward("svc/whatsapp-sim", 8102) as whatsapp_sim:
        texts = sorted(m["text"] for m in whatsapp_sim.get("/_sim/messages").json())
    assert texts == ["Olá, José!", "Olá, Maria!"]


def test_scaling_the_portal_worker_to_zero_mid_booking_loses_nothing_and_books_once(
    installed: Kube, api: httpx.Client, portal_sim: httpx.Client
) -> None:
    portal_sim.post("/_sim/config", json={"delay_ms": 1500}).raise_for_status()  # every page slow: ~15 s
    job_id = _book(api, "K8S-0002")
    wait_for(lambda: _status(api, job_id)["status"] == "started", BOOKING_SECONDS, "the booking to start")

    installed.kubectl("scale", f"deployment/{RELEASE}-portal-worker", "--replicas=0")
    wait_for(lambda: not installed.get("pods", "-l", "app.kubernetes.io/component=portal-worker")["items"],
             120, "the portal worker pods to be gone")
    portal_sim.post("/_sim/config", json={"delay_ms": 0}).raise_for_status()
    installed.kubectl("scale", f"deployment/{RELEASE}-portal-worker", "--replicas=1")

    status = _wait_final(api, job_id)
    assert status["status"] == "finished", status
    assert len(portal_sim.get("/_sim/bookings", params={"lote": "K8S-0002"}).json()) == 1


def test_scaling_the_portal_worker_to_three_gives_three_ready_consumers(installed: Kube) -> None:
    installed.kubectl("scale", f"deployment/{RELEASE}-portal-worker", "--replicas=3")
    installed.wait_rollout(f"deployment/{RELEASE}-portal-worker")
    pods = installed.pods("portal-worker")
    assert len(pods) == 3 and all(_ready(pod) for pod in pods)
    for pod in pods:  # Ready is /livez: its worker processes' consumers are polling the queue
        assert _livez(installed, pod["metadata"]["name"]).startswith("consuming"), pod["metadata"]["name"]
    installed.kubectl("scale", f"deployment/{RELEASE}-portal-worker", "--replicas=1")
    installed.wait_rollout(f"deployment/{RELEASE}-portal-worker")


def test_an_upgrade_with_a_changed_value_rolls_the_pods_without_losing_a_job(
    installed: Kube, api: httpx.Client, portal_sim: httpx.Client
) -> None:
    before = {pod["metadata"]["name"] for component in FILAS_COMPONENTS for pod in installed.pods(component)}
    portal_sim.post("/_sim/config", json={"delay_ms": 500}).raise_for_status()
    job_id = _book(api, "K8S-0003")
    installed.helm("upgrade", RELEASE, str(CHART), "-f", str(VALUES), "--set", "config.logLevel=DEBUG",
                   "--set", "campaignWorker.autoscaling.enabled=true", "--wait", "--timeout", "8m")
    after = {pod["metadata"]["name"] for component in FILAS_COMPONENTS for pod in installed.pods(component)}
    assert not before & after, f"pods not rolled: {sorted(before & after)}"
    portal_sim.post("/_sim/config", json={"delay_ms": 0}).raise_for_status()
    with installed.port_forward(f"svc/{RELEASE}-api", 80) as rolled_api:
        status = _wait_final(rolled_api, job_id)
    assert status["status"] == "finished", status
    assert len(portal_sim.get("/_sim/bookings", params={"lote": "K8S-0003"}).json()) == 1


def test_the_hpa_is_accepted_and_its_external_metric_is_served_by_the_api(installed: Kube) -> None:
    hpa = installed.get(f"hpa/{RELEASE}-campaign-worker")
    metric = hpa["spec"]["metrics"][0]["external"]["metric"]
    queue = metric["selector"]["matchLabels"]["queue"]
    states = metric["selector"]["matchExpressions"][0]["values"]
    with installed.port_forward(f"svc/{RELEASE}-api", 80) as api:
        exposition = api.get("/metrics").text
    for state in states:
        assert f'{metric["name"]}{{queue="{queue}",state="{state}"}}' in exposition, (metric, states)


def test_every_object_of_the_full_featured_values_is_accepted_by_the_api_server(kube_with_crds: Kube) -> None:
    """KEDA ScaledObjects, HPAs, ServiceMonitors, PodMonitors, PrometheusRule, Ingress, NetworkPolicies...: the
    chart rendered with ci/full-values.yaml, applied as a server-side dry run (admission and the CRDs' schemas)."""
    rendered = kube_with_crds.helm("template", "full", str(CHART), "-f", str(CHART / "ci" / "full-values.yaml"),
                                   "--namespace", kube_with_crds.namespace).stdout
    applied = kube_with_crds.kubectl("apply", "--dry-run=server", "-f", "-", stdin=rendered).stdout
    kinds = {line.split("/", 1)[0] for line in applied.splitlines()}
    assert {"scaledobject.keda.sh", "horizontalpodautoscaler.autoscaling", "servicemonitor.monitoring.coreos.com",
            "podmonitor.monitoring.coreos.com", "prometheusrule.monitoring.coreos.com"} <= kinds, applied


def test_a_bad_value_fails_the_install_with_the_schema_message(installed: Kube) -> None:
    result = installed.helm("install", "bad-values", str(CHART), "-f", str(VALUES),
                            "--set-string", "portalWorker.replicaCount=three", check=False)
    assert result.returncode != 0
    assert "portalWorker" in result.stderr and "replicaCount" in result.stderr, result.stderr
    assert "bad-values" not in installed.helm("list", "-q").stdout


def test_uninstall_leaves_only_the_opt_out_key_and_a_reinstall_reuses_it(installed: Kube) -> None:
    key_before = installed.get(f"secret/{RELEASE}-opt-out-key")["data"]["opt-out-key"]
    installed.helm("uninstall", RELEASE, "--wait", "--timeout", "5m")

    def left() -> list[str]:
        items = installed.get("all,configmaps,secrets,serviceaccounts,poddisruptionbudgets,hpa,jobs,ingresses,"
                              "networkpolicies,persistentvolumeclaims",
                              "-l", f"app.kubernetes.io/instance={RELEASE}")["items"]
        return [f'{item["kind"]}/{item["metadata"]["name"]}' for item in items]

    # Pods end after their grace period (a worker hands its job back first): wait for them, not for a fixed time.
    wait_for(lambda: left() == [f"Secret/{RELEASE}-opt-out-key"], 180, "only the opt-out key to be left", left)

    installed.helm("install", RELEASE, str(CHART), "-f", str(VALUES), "--wait", "--timeout", "8m")
    assert installed.get(f"secret/{RELEASE}-opt-out-key")["data"]["opt-out-key"] == key_before


# --- helpers ------------------------------------------------------------------------------------------------


def _book(api: httpx.Client, load: str) -> str:
    day = datetime.datetime.now(FORTALEZA).date() + datetime.timedelta(days=30)
    answer = api.post("/portal/api/solicitar-agendamento-async", headers=AUTH, json={
        "lote_id": load, "data_agendamento": day.isoformat(), "hora_agendamento": "14:00",
        "transportadora": "Agregado", "tipo_veiculo": "11",
    })
    assert answer.status_code == 202, answer.text
    return answer.json()["job_id"]


def _status(api: httpx.Client, job_id: str) -> dict:
    answer = api.get(f"/portal/api/status-job/{job_id}", headers=AUTH)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _wait_final(api: httpx.Client, job_id: str) -> dict:
    return wait_for(lambda: (s := _status(api, job_id))["status"] in ("finished", "failed") and s,
                    BOOKING_SECONDS, f"job {job_id} to end", lambda: _status(api, job_id))


def _wait_task(api: httpx.Client, accepted: httpx.Response) -> dict:
    assert accepted.status_code == 202, accepted.text
    task = accepted.json()["task_id"]

    def read() -> dict:
        return api.get(f"/api/task/{task}/status", headers=AUTH).json()

    return wait_for(lambda: (s := read())["status"] in ("finished", "failed") and s, BOOKING_SECONDS,
                    f"task {task} to end", read)


def _livez(kube: Kube, pod: str) -> str:
    """The worker's GET /livez, asked inside its pod (its image has no curl)."""
    ask = ("import urllib.request; "
           "print(urllib.request.urlopen('http://127.0.0.1:9191/livez', timeout=5).read().decode())")
    return kube.kubectl("exec", pod, "--", "python", "-c", ask).stdout


def _migration_completed_at(kube: Kube) -> datetime.datetime:
    """When the migrations hook Job completed: its event (Helm deletes the Job and its pod once it succeeded)."""
    events = kube.get("events", "--field-selector",
                      f"involvedObject.kind=Job,involvedObject.name={RELEASE}-migrations,reason=Completed")["items"]
    assert events, "no Completed event of the migrations Job"
    return max(_time(event.get("lastTimestamp") or event["eventTime"]) for event in events)


def _ready(pod: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def _time(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
