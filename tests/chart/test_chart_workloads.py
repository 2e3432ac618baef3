"""What a user of the chart would notice: each service runs its image's own command, probes hit routes and ports
the code serves, the portal worker has its /dev/shm and memory, every container is hardened and can write where
the code writes, grace periods outlast the shutdowns, and every setting the chart passes is one the code reads."""

import ast
import json
import os
import re
from pathlib import Path

import pytest
from chart_rendering import (
    CHART,
    REPO_ROOT,
    VALUES_CASES,
    by_kind,
    container,
    env_names,
    one,
    pod_specs,
    render,
)

from filas import liveness_http
from filas.settings import Settings
from filas_api.app import create_app

FULL = (CHART / "ci" / "full-values.yaml",)
EXTERNAL = (CHART / "ci" / "external-values.yaml",)
SERVICES = {  # Deployment -> its Dockerfile
    "filas-api": "services/api/Dockerfile",
    "filas-portal-worker": "services/portal-worker/Dockerfile",
    "filas-campaign-worker": "services/campaign-worker/Dockerfile",
    "filas-scheduler": "services/scheduler/Dockerfile",
}
GIB = 1024**3


def dockerfile_instruction(path: str, instruction: str) -> str:
    """The value of the last `instruction` line of a Dockerfile (the runtime stage's)."""
    lines = [line for line in (REPO_ROOT / path).read_text().splitlines() if line.startswith(instruction + " ")]
    assert lines, f"{path} has no {instruction}"
    return lines[-1][len(instruction) + 1:].strip()


def dockerfile_cmd(path: str) -> list[str]:
    return json.loads(dockerfile_instruction(path, "CMD"))


def dockerfile_env(path: str) -> dict[str, str]:
    """ENV KEY=VALUE pairs of the runtime stage (continuation lines joined)."""
    text = (REPO_ROOT / path).read_text().split("AS runtime", 1)[1].replace("\\\n", " ")
    env = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(dict(re.findall(r"(\w+)=(\S+)", line)))
    return env


def quantity(value: str) -> float:
    units = {"Ki": 1024, "Mi": 1024**2, "Gi": GIB, "k": 1e3, "M": 1e6, "G": 1e9}
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(value))
    assert match, value
    return float(match.group(1)) * units.get(match.group(2), 1)


# ---- commands ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("deployment", sorted(SERVICES))
def test_each_service_runs_its_image_command_under_the_image_entrypoint(deployment) -> None:
    dockerfile = SERVICES[deployment]
    spec = container(render(), deployment)
    assert "command" not in spec, "command: would replace the image's tini entrypoint"
    assert json.loads(dockerfile_instruction(dockerfile, "ENTRYPOINT")) == ["/usr/bin/tini", "--"]
    cmd = dockerfile_cmd(dockerfile)
    args = spec["args"]
    if cmd[0] == "dramatiq":  # the same command, plus the shutdown timeout the grace period is sized against
        assert args[: len(cmd)] == cmd
        assert args[len(cmd):][0] == "--worker-shutdown-timeout"
        assert len(args) == len(cmd) + 2
    else:
        assert args == cmd


def test_threads_and_processes_are_values() -> None:
    args = container(render(sets=("portalWorker.threads=3", "portalWorker.processes=2")), "filas-portal-worker")["args"]
    assert args[args.index("--threads") + 1] == "3"
    assert args[args.index("--processes") + 1] == "2"
    api = container(render(sets=("api.workers=3", "api.threads=8")), "filas-api")
    env = {entry["name"]: entry.get("value") for entry in api["env"]}
    assert env["FILAS_API_WORKERS"] == "3" and env["FILAS_API_THREADS"] == "8"


def test_the_migration_job_runs_the_projects_migrate_command_from_the_api_image() -> None:
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    assert 'filas-migrate = "filas.db.migrate:main"' in pyproject
    job = one(render(EXTERNAL), "Job", "filas-migrations")
    spec = job["spec"]["template"]["spec"]["containers"][0]
    assert spec["args"] == ["filas-migrate"]
    assert spec["image"] == container(render(EXTERNAL), "filas-api")["image"]
    assert "FILAS_DATABASE_URL" in env_names(spec)


# ---- probes and ports ------------------------------------------------------------------------------------------


def test_api_probes_hit_routes_the_api_serves() -> None:
    routes = {rule.rule for rule in create_app(Settings()).url_map.iter_rules()}
    spec = container(render(), "filas-api")
    assert spec["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert spec["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert spec["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert {"/healthz", "/readyz", "/metrics"} <= routes
    port = next(p for p in spec["ports"] if p["name"] == "http")
    bind = next(e["value"] for e in spec["env"] if e["name"] == "FILAS_API_BIND")
    assert bind == f"0.0.0.0:{port['containerPort']}"
    assert dockerfile_instruction("services/api/Dockerfile", "EXPOSE") == str(port["containerPort"])


@pytest.mark.parametrize("deployment", ["filas-portal-worker", "filas-campaign-worker", "filas-scheduler"])
def test_worker_and_scheduler_probes_hit_their_metrics_port(deployment) -> None:
    """/livez: the worker metrics server answers 200 only while the consumers poll Redis, the scheduler's only
    while its loop runs."""
    spec = container(render(), deployment)
    port = next(p for p in spec["ports"] if p["name"] == "metrics")
    metrics_port = next(e["value"] for e in spec["env"] if e["name"] == "FILAS_METRICS_PORT")
    assert int(metrics_port) == port["containerPort"] == Settings.model_fields["metrics_port"].default
    assert dockerfile_instruction(SERVICES[deployment], "EXPOSE") == metrics_port
    path = liveness_http.ROUTE
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert spec[probe]["httpGet"] == {"path": path, "port": "metrics"}
    service = one(render(), "Service", f"{deployment}-metrics")
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    assert service["spec"]["ports"][0]["port"] == port["containerPort"]


def test_services_select_their_pods() -> None:
    objects = render(FULL)
    pods = {name: obj["spec"]["template"]["metadata"]["labels"] for name, obj in by_kind(objects, "Deployment").items()}
    pods |= {name: obj["spec"]["template"]["metadata"]["labels"]
             for name, obj in by_kind(objects, "StatefulSet").items()}
    for name, service in by_kind(objects, "Service").items():
        selector = service["spec"]["selector"]
        matched = [pod for pod, labels in pods.items() if selector.items() <= labels.items()]
        assert len(matched) == 1, f"Service {name} selects {matched}"


# ---- resources, /dev/shm, grace periods ------------------------------------------------------------------------


@pytest.mark.parametrize("values_files", VALUES_CASES)
def test_portal_worker_has_a_memory_backed_dev_shm_and_at_least_1_gib(values_files) -> None:
    objects = render(values_files)
    deployment = one(objects, "Deployment", "filas-portal-worker")["spec"]["template"]["spec"]
    spec = deployment["containers"][0]
    shm_mount = next(m for m in spec["volumeMounts"] if m["mountPath"] == "/dev/shm")
    volume = next(v for v in deployment["volumes"] if v["name"] == shm_mount["name"])
    assert volume["emptyDir"]["medium"] == "Memory"
    limit = quantity(spec["resources"]["limits"]["memory"])
    assert limit >= 1 * GIB
    assert limit > 0.95 * GIB  # the measured peak of a 2-thread worker's process tree (README "Performance")
    assert quantity(spec["resources"]["requests"]["memory"]) >= 0.95 * GIB


@pytest.mark.parametrize("deployment", ["filas-portal-worker", "filas-campaign-worker"])
def test_grace_period_outlasts_twice_the_worker_shutdown_timeout(deployment) -> None:
    for values_files in ((), FULL):
        pod = one(render(values_files), "Deployment", deployment)["spec"]["template"]["spec"]
        args = pod["containers"][0]["args"]
        shutdown_seconds = int(args[args.index("--worker-shutdown-timeout") + 1]) / 1000
        # Dramatiq waits up to the shutdown timeout twice (worker threads, then consumers): docs/images.md.
        assert pod["terminationGracePeriodSeconds"] > 2 * shutdown_seconds
        # And the grace period leaves a delivery's lease time to lapse before another takes it over.
        assert pod["terminationGracePeriodSeconds"] > Settings.model_fields["job_lease_seconds"].default


def test_api_grace_period_outlasts_gunicorns_graceful_timeout() -> None:
    conf = ast.parse((REPO_ROOT / "services/api/filas_api/gunicorn_conf.py").read_text())
    graceful = next(node.value.value for node in conf.body if isinstance(node, ast.Assign)
                    and getattr(node.targets[0], "id", "") == "graceful_timeout")
    pod = one(render(), "Deployment", "filas-api")["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > graceful


# ---- security ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("values_files", VALUES_CASES)
def test_every_container_is_hardened(values_files) -> None:
    for name, pod in pod_specs(render(values_files)).items():
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod.get("automountServiceAccountToken") is False, name
        for spec in pod["containers"] + pod.get("initContainers", []):
            context = spec["securityContext"]
            assert context["runAsNonRoot"] is True, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            assert not context["capabilities"].get("add"), name
            assert context.get("privileged", False) is False, name


@pytest.mark.parametrize("deployment", sorted(SERVICES))
def test_filas_containers_run_as_the_image_user_and_can_write_where_the_code_writes(deployment) -> None:
    dockerfile = SERVICES[deployment]
    user = dockerfile_instruction(dockerfile, "USER")
    pod = one(render(), "Deployment", deployment)["spec"]["template"]["spec"]
    spec = pod["containers"][0]
    assert f"{spec['securityContext']['runAsUser']}:{spec['securityContext']['runAsGroup']}" == user
    mounts = {mount["mountPath"] for mount in spec["volumeMounts"]}
    env = dockerfile_env(dockerfile)
    metrics_dir = Path(Settings.model_fields["metrics_dir"].default)
    writable = {"/tmp", env["HOME"]}  # gunicorn's heartbeat files and socket, caches under $HOME
    if "XDG_RUNTIME_DIR" in env:
        writable.add(env["XDG_RUNTIME_DIR"])  # gunicorn's control socket
    assert writable <= mounts
    assert any(metrics_dir.is_relative_to(mount) for mount in mounts), "FILAS_METRICS_DIR is not writable"
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    for mount in spec["volumeMounts"]:
        assert "emptyDir" in volumes[mount["name"]]


def test_in_cluster_redis_and_postgresql_are_public_images_and_hardened() -> None:
    objects = render(FULL)
    images = {name: obj["spec"]["template"]["spec"]["containers"][0]["image"]
              for name, obj in by_kind(objects, "StatefulSet").items()}
    assert images["filas-redis"].startswith("docker.io/library/redis:")
    assert images["filas-postgresql"].startswith("docker.io/library/postgres:")
    assert not by_kind(render(), "StatefulSet"), "external Redis and PostgreSQL are the default"


# ---- settings --------------------------------------------------------------------------------------------------


def _read_by_code() -> set[str]:
    names = {f"FILAS_{name.upper()}" for name in Settings.model_fields}
    names |= {"ATACADAO_USUARIO", "ATACADAO_SENHA"}  # aliases in filas/settings.py
    gunicorn_conf = (REPO_ROOT / "services/api/filas_api/gunicorn_conf.py").read_text()
    names |= set(re.findall(r'os\.environ\.get\("(\w+)"', gunicorn_conf))
    return names


@pytest.mark.parametrize("values_files", VALUES_CASES)
def test_every_setting_the_chart_passes_is_read_by_the_code(values_files) -> None:
    objects = render(values_files)
    read = _read_by_code()
    passed = set(one(objects, "ConfigMap", "filas")["data"])
    for deployment in SERVICES:
        passed |= set(env_names(container(objects, deployment)))
    passed |= set(env_names(one(objects, "Job", "filas-migrations")["spec"]["template"]["spec"]["containers"][0]))
    # Not settings: gunicorn's own variable, and the passwords the URLs are composed from ($(VAR) expansion).
    others = {"FORWARDED_ALLOW_IPS", "INTERNAL_REDIS_PASSWORD", "INTERNAL_POSTGRES_PASSWORD"}
    unknown = passed - read - others
    assert not unknown, f"the chart sets variables no code reads: {sorted(unknown)}"


def test_secrets_come_from_the_users_secrets_when_asked() -> None:
    objects = render(EXTERNAL)
    refs = {}
    for deployment in SERVICES:
        for entry in container(objects, deployment).get("env", []):
            if "valueFrom" in entry:
                refs[entry["name"]] = entry["valueFrom"]["secretKeyRef"]
    assert refs["FILAS_REDIS_URL"] == {"name": "filas-external", "key": "redis-url"}
    assert refs["FILAS_DATABASE_URL"] == {"name": "filas-external", "key": "database-url"}
    assert refs["FILAS_API_TOKENS"]["name"] == "filas-external"
    assert refs["FILAS_PORTAL_USERNAME"] == {"name": "filas-portal", "key": "ATACADAO_USUARIO"}
    assert refs["FILAS_PORTAL_PASSWORD"] == {"name": "filas-portal", "key": "ATACADAO_SENHA"}
    assert refs["FILAS_EVOLUTION_API_KEY"]["name"] == "filas-external"
    assert not one(objects, "Secret", "filas").get("data"), "nothing secret is copied into the chart's Secret"


def test_links_carry_the_public_scheme_and_host() -> None:
    assert one(render(FULL), "ConfigMap", "filas")["data"]["FILAS_PUBLIC_URL"] == "https://filas.example.org"
    assert one(render(EXTERNAL), "ConfigMap", "filas")["data"]["FILAS_PUBLIC_URL"] == "https://filas.example.org"
    plain_host = render(sets=("api.ingress.enabled=true", "api.ingress.hosts[0].host=filas.local",
                              "api.ingress.hosts[0].paths[0].path=/", "api.ingress.hosts[0].paths[0].pathType=Prefix"))
    assert one(plain_host, "ConfigMap", "filas")["data"]["FILAS_PUBLIC_URL"] == "http://filas.local"
    assert "FILAS_PUBLIC_URL" not in one(render(), "ConfigMap", "filas")["data"]
    api = container(render(FULL), "filas-api")
    assert {"name": "FORWARDED_ALLOW_IPS", "value": "*"} in api["env"]


# ---- labels, spread, disruption budgets, network policies ----------------------------------------------------------


@pytest.mark.parametrize("values_files", VALUES_CASES)
def test_every_object_carries_the_recommended_labels(values_files) -> None:
    for obj in render(values_files):
        labels = obj["metadata"].get("labels", {})
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
                    "app.kubernetes.io/managed-by", "helm.sh/chart"):
            assert key in labels, f"{obj['kind']}/{obj['metadata']['name']} lacks {key}"


def test_each_deployment_spreads_over_nodes_and_has_a_disruption_budget() -> None:
    objects = render(FULL)
    budgets = by_kind(objects, "PodDisruptionBudget")
    for name, deployment in by_kind(objects, "Deployment").items():
        spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert spread[0]["topologyKey"] == "kubernetes.io/hostname"
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert spread[0]["labelSelector"]["matchLabels"].items() <= selector.items()
        assert budgets[name]["spec"]["selector"] == deployment["spec"]["selector"]


def test_network_policies_are_opt_in_and_cover_every_component() -> None:
    assert not by_kind(render(), "NetworkPolicy")
    policies = by_kind(render(FULL), "NetworkPolicy")
    assert set(policies) == {f"filas-{c}" for c in ("api", "portal-worker", "campaign-worker", "scheduler",
                                                    "migrations", "redis", "postgresql")}
    redis_from = policies["filas-redis"]["spec"]["ingress"][0]["from"]
    assert {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "filas",
                                            "app.kubernetes.io/instance": "filas"}}} in redis_from


def test_portal_memory_limit_covers_each_threads_browser_recycling_threshold() -> None:
    """Each worker thread's Chromium is replaced once it grows past FILAS_PORTAL_BROWSER_MAX_MEMORY_MIB (when the
    code has that setting): the limit must hold every thread's browser at that size."""
    field = Settings.model_fields.get("portal_browser_max_memory_mib")
    if field is None:
        pytest.skip("filas/settings.py has no portal_browser_max_memory_mib")
    for values_files in ((), FULL):
        spec = container(render(values_files), "filas-portal-worker")
        args = spec["args"]
        browsers = int(args[args.index("--threads") + 1]) * int(args[args.index("--processes") + 1])
        assert quantity(spec["resources"]["limits"]["memory"]) >= browsers * field.default * 1024**2


@pytest.mark.parametrize("values_files", VALUES_CASES)
def test_the_configmap_settings_parse_as_the_code_reads_them(values_files, monkeypatch) -> None:
    data = one(render(values_files, sets=("config.extra.FILAS_PORTAL_EVIDENCE_MAX_BYTES=2621440",)),
               "ConfigMap", "filas")["data"]
    for name in list(os.environ):
        if name.startswith("FILAS_") or name.startswith("ATACADAO_"):
            monkeypatch.delenv(name)
    for name, value in data.items():
        monkeypatch.setenv(name, value)
    settings = Settings()  # raises on a value of the wrong type (e.g. 2.097152e+06 for an int)
    assert settings.portal_evidence_max_bytes == 2621440
    assert settings.log_format == data["FILAS_LOG_FORMAT"]
