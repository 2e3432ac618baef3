"""The database migrations run as a Helm hook Job before the release's pods change: pre-install and pre-upgrade
with an external PostgreSQL, their Secret and ServiceAccount hooks of lower weight (the release's own do not
exist yet before the first install), all deleted once the Job succeeds."""

from chart_rendering import CHART, one, render

FULL = (CHART / "ci" / "full-values.yaml",)
EXTERNAL = (CHART / "ci" / "external-values.yaml",)
URL = ("postgresql.url=postgresql+psycopg://filas:pw@db:5432/filas",)


def _hook(obj: dict) -> tuple[str, int, str]:
    annotations = obj["metadata"]["annotations"]
    return (annotations["helm.sh/hook"], int(annotations["helm.sh/hook-weight"]),
            annotations["helm.sh/hook-delete-policy"])


def test_the_migration_job_is_a_pre_install_pre_upgrade_hook() -> None:
    objects = render(sets=URL)
    job = one(objects, "Job", "filas-migrations")
    events, weight, policy = _hook(job)
    assert events.split(",") == ["pre-install", "pre-upgrade"]
    assert weight == 0
    assert set(policy.split(",")) == {"before-hook-creation", "hook-succeeded"}
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] >= 1


def test_what_the_job_needs_is_created_by_hooks_before_it() -> None:
    objects = render(sets=URL)
    job = one(objects, "Job", "filas-migrations")
    pod = job["spec"]["template"]["spec"]
    secret = one(objects, "Secret", "filas-migrations")
    account = one(objects, "ServiceAccount", "filas-migrations")
    for hook in (secret, account):
        events, weight, policy = _hook(hook)
        assert events == _hook(job)[0] and weight < 0 and policy == _hook(job)[2]
    assert pod["serviceAccountName"] == "filas-migrations"
    database_url = next(e for e in pod["containers"][0]["env"] if e["name"] == "FILAS_DATABASE_URL")
    assert database_url["valueFrom"]["secretKeyRef"] == {"name": "filas-migrations", "key": "database-url"}
    assert "envFrom" not in pod["containers"][0], "the release's ConfigMap does not exist at pre-install"


def test_with_the_users_secret_the_job_reads_it_directly() -> None:
    objects = render(EXTERNAL)
    assert "filas-migrations" not in {o["metadata"]["name"] for o in objects if o["kind"] == "Secret"}
    env = one(objects, "Job", "filas-migrations")["spec"]["template"]["spec"]["containers"][0]["env"]
    database_url = next(e for e in env if e["name"] == "FILAS_DATABASE_URL")
    assert database_url["valueFrom"]["secretKeyRef"] == {"name": "filas-external", "key": "database-url"}


def test_with_the_in_cluster_postgresql_the_first_install_migrates_after_it_exists() -> None:
    events, _, _ = _hook(one(render(FULL), "Job", "filas-migrations"))
    assert events.split(",") == ["post-install", "pre-upgrade"]


def test_only_the_migration_objects_are_hooks() -> None:
    hooks = {f"{o['kind']}/{o['metadata']['name']}" for o in render(FULL)
             if "helm.sh/hook" in o["metadata"].get("annotations", {})}
    assert hooks == {"Job/filas-migrations", "Secret/filas-migrations", "ServiceAccount/filas-migrations"}
