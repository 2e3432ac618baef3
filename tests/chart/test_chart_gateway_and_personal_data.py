"""The WhatsApp gateway (Evolution API or the Cloud API), the pacing of campaign sends, the contacts CSV upload
limits and the personal-data settings reach the services that read them, and each secret only those. The
opt-out key (opt-outs are stored as its HMACs) is one key for the API, the campaign worker and the migration
Job, and stays the same across upgrades and reinstalls: reused from the cluster (Helm's `lookup`, served here
by a fake API server), never silently replaced."""

import base64
import os
import re
from typing import Any

import pytest
import yaml
from chart_rendering import CHART, VALUES_CASES, by_kind, container, one, render, render_error

from filas.settings import Settings

EXTERNAL = (CHART / "ci" / "external-values.yaml",)
FULL = (CHART / "ci" / "full-values.yaml",)
META = (CHART / "ci" / "meta-gateway-values.yaml",)
SERVICES = ("filas-api", "filas-campaign-worker", "filas-portal-worker", "filas-scheduler")
META_INLINE = (
    "campaignWorker.gateway.type=meta",
    "campaignWorker.gateway.meta.phoneNumberId=109876543210987",  # a number with --set: must stay whole
    "campaignWorker.gateway.meta.accessToken=meta-access",
    "campaignWorker.gateway.meta.appSecret=meta-app",
    "campaignWorker.gateway.meta.verifyToken=meta-verify",
)
OPT_OUT_KEY_SECRET = "filas-opt-out-key"


def env(objects: list[dict[str, Any]], workload: str) -> dict[str, dict[str, Any]]:
    """Env entries by name of a Deployment's container, or of the migration Job's ("Job/filas-migrations")."""
    if workload.startswith("Job/"):
        spec = one(objects, "Job", workload[4:])["spec"]["template"]["spec"]["containers"][0]
    else:
        spec = container(objects, workload)
    return {entry["name"]: entry for entry in spec.get("env", [])}


def secret_ref(entry: dict[str, Any]) -> dict[str, str]:
    return entry["valueFrom"]["secretKeyRef"]


def decoded(secret: dict[str, Any], key: str) -> str:
    return base64.b64decode(secret["data"][key]).decode()


def objects_of(stdout: str) -> list[dict[str, Any]]:
    return [obj for obj in yaml.safe_load_all(stdout) if obj]


# ---- the WhatsApp gateway ------------------------------------------------------------------------------------


def test_cloud_api_secrets_reach_only_the_services_that_read_them() -> None:
    objects = render(sets=META_INLINE)
    readers = {
        "FILAS_META_ACCESS_TOKEN": ("filas-campaign-worker", "meta-access-token", "meta-access"),
        "FILAS_META_APP_SECRET": ("filas-api", "meta-app-secret", "meta-app"),
        "FILAS_META_VERIFY_TOKEN": ("filas-api", "meta-verify-token", "meta-verify"),
    }
    chart_secret = one(objects, "Secret", "filas")
    for name, (reader, key, value) in readers.items():
        for service in SERVICES:
            assert (name in env(objects, service)) == (service == reader), f"{name} in {service}"
        assert secret_ref(env(objects, reader)[name]) == {"name": "filas", "key": key}
        assert decoded(chart_secret, key) == value
    data = one(objects, "ConfigMap", "filas")["data"]
    assert data["FILAS_WHATSAPP_GATEWAY"] == "meta"
    assert data["FILAS_META_PHONE_NUMBER_ID"] == "109876543210987"


def test_the_cloud_api_secrets_come_from_the_users_secret_when_asked() -> None:
    objects = render(META, sets=("campaignWorker.gateway.meta.existingSecretAccessTokenKey=token",
                                 "campaignWorker.gateway.meta.existingSecretAppSecretKey=app",
                                 "campaignWorker.gateway.meta.existingSecretVerifyTokenKey=verify"))
    assert secret_ref(env(objects, "filas-campaign-worker")["FILAS_META_ACCESS_TOKEN"]) == {
        "name": "filas-meta", "key": "token"}
    api = env(objects, "filas-api")
    assert secret_ref(api["FILAS_META_APP_SECRET"]) == {"name": "filas-meta", "key": "app"}
    assert secret_ref(api["FILAS_META_VERIFY_TOKEN"]) == {"name": "filas-meta", "key": "verify"}
    assert not any(key.startswith("meta-") for key in one(objects, "Secret", "filas").get("data") or {})


def test_no_cloud_api_secret_without_the_cloud_api() -> None:
    objects = render()
    for service in SERVICES:
        assert not [name for name in env(objects, service) if name.startswith("FILAS_META_")], service


@pytest.mark.parametrize(
    ("assignments", "message"),
    [
        (("campaignWorker.gateway.type=meta",), "campaignWorker.gateway.meta.phoneNumberId is required"),
        (("campaignWorker.gateway.type=meta", "campaignWorker.gateway.meta.phoneNumberId=1"),
         "campaignWorker.gateway.meta.accessToken (or meta.existingSecret) is required"),
        (("campaignWorker.gateway.type=meta", "campaignWorker.gateway.meta.phoneNumberId=1",
          "campaignWorker.gateway.meta.accessToken=t"),
         "campaignWorker.gateway.meta.appSecret (or meta.existingSecret) is required"),
    ],
)
def test_the_chart_refuses_a_cloud_api_gateway_that_cannot_send_or_hear_back(assignments, message) -> None:
    assert message in render_error(sets=assignments)


@pytest.mark.parametrize(
    ("assignment", "where"),
    [
        ("campaignWorker.gateway.type=twilio", "/campaignWorker/gateway/type"),
        ("campaignWorker.gateway.meta.apiVersion=21", "/campaignWorker/gateway/meta/apiVersion"),
        ("campaignWorker.sending.ratePerSecond=-1", "/campaignWorker/sending/ratePerSecond"),
        ("campaignWorker.sending.chunkSize=0", "/campaignWorker/sending/chunkSize"),
        ("campaignWorker.sending.concurrency=0", "/campaignWorker/sending/concurrency"),
        ("campaignWorker.sending.unknownSendWaitSeconds=-1", "/campaignWorker/sending/unknownSendWaitSeconds"),
        ("api.contactsImport.maxBytes=0", "/api/contactsImport/maxBytes"),
        ("personalData.contactRetentionDays=0", "/personalData/contactRetentionDays"),
        ("personalData.followUp.afterDays=0", "/personalData/followUp/afterDays"),
        ("personalData.optOut.kee=x", "additional properties 'kee' not allowed"),
    ],
)
def test_the_schema_refuses_what_the_settings_refuse(assignment, where) -> None:
    error = render_error(sets=(assignment,))
    assert "values don't meet the specifications of the schema" in error
    assert where in error


# ---- plain settings ----------------------------------------------------------------------------------------------


def _settings_from_configmap(data: dict[str, str], monkeypatch) -> Settings:
    for name in list(os.environ):
        if name.startswith(("FILAS_", "ATACADAO_")):
            monkeypatch.delenv(name)
    for name, value in data.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_the_settings_the_code_reads_are_the_values(monkeypatch) -> None:
    settings = _settings_from_configmap(one(render(META), "ConfigMap", "filas")["data"], monkeypatch)
    assert settings.whatsapp_gateway == "meta"
    assert (settings.meta_url, settings.meta_api_version) == ("https://graph.facebook.com", "v21.0")
    assert (settings.meta_phone_number_id, settings.meta_template_language) == ("109876543210987", "en_US")
    assert settings.whatsapp_rate_per_second == 20.0
    assert (settings.campaign_chunk_size, settings.campaign_send_concurrency) == (500, 16)
    assert settings.campaign_unknown_send_wait_seconds == 900
    assert (settings.contacts_import_max_rows, settings.contacts_import_max_bytes) == (100_000, 33_554_432)
    assert settings.opt_out_words == "SAIR,STOP"
    assert (settings.follow_up_after_days, settings.follow_up_max) == (2, 1)
    full = _settings_from_configmap(one(render(FULL), "ConfigMap", "filas")["data"], monkeypatch)
    assert full.whatsapp_rate_per_second == 2.5 and full.contact_retention_days == 90


def test_the_charts_defaults_are_the_codes_defaults(monkeypatch) -> None:
    """Every setting the default ConfigMap writes has the value the code would take without it."""
    data = one(render(), "ConfigMap", "filas")["data"]
    settings = _settings_from_configmap(data, monkeypatch)
    for name in data:
        field = name.removeprefix("FILAS_").lower()
        assert getattr(settings, field) == Settings.model_fields[field].default, name


# ---- contacts CSV uploads through the Ingress ------------------------------------------------------------------


INGRESS = ("api.ingress.enabled=true",)
BODY_SIZE = "nginx.ingress.kubernetes.io/proxy-body-size"


def _body_size(values_files=(), sets=()) -> str:
    return one(render(values_files, sets), "Ingress", "filas-api")["metadata"]["annotations"][BODY_SIZE]


def test_the_ingress_lets_the_largest_contacts_upload_through() -> None:
    assert _body_size(sets=INGRESS) == "16m"  # FILAS_CONTACTS_IMPORT_MAX_BYTES' 16 MiB, not ingress-nginx's 1m
    assert _body_size(META) == "32m"
    assert _body_size(sets=(*INGRESS, "api.contactsImport.maxBytes=20000000")) == "20m"  # rounded up
    assert _body_size(sets=(*INGRESS, "api.maxBodyBytes=67108864")) == "64m"  # the larger of the two limits
    assert _body_size(FULL) == "16m"
    assert one(render(FULL), "Ingress", "filas-api")["metadata"]["annotations"][
        "nginx.ingress.kubernetes.io/proxy-read-timeout"] == "120"


def test_the_users_body_size_annotation_wins() -> None:
    sets = (*INGRESS, "api.ingress.annotations.nginx\\.ingress\\.kubernetes\\.io/proxy-body-size=50m")
    assert _body_size(sets=sets) == "50m"


# ---- the opt-out key -------------------------------------------------------------------------------------------

OPT_OUT_READERS = {"filas-api", "filas-campaign-worker", "Job/filas-migrations"}


@pytest.mark.parametrize("values_files", VALUES_CASES)
def test_the_opt_out_key_reaches_the_api_the_campaign_worker_and_the_migrations_only(values_files) -> None:
    objects = render(values_files)
    refs = set()
    for workload in (*SERVICES, "Job/filas-migrations"):
        entries = env(objects, workload)
        assert ("FILAS_OPT_OUT_KEY" in entries) == (workload in OPT_OUT_READERS), workload
        if workload in OPT_OUT_READERS and not workload.startswith("Job/"):
            refs.add(tuple(sorted(secret_ref(entries["FILAS_OPT_OUT_KEY"]).items())))
    assert len(refs) == 1, f"the API and the campaign worker read different keys: {refs}"


def test_a_generated_opt_out_key_is_one_key_for_the_release_and_the_migration_hook() -> None:
    objects = render()
    stored = one(objects, "Secret", OPT_OUT_KEY_SECRET)
    key = decoded(stored, "opt-out-key")
    assert re.fullmatch(r"[A-Za-z0-9]{64}", key)
    # Kept by `helm uninstall` (a reinstall reuses it), and an ordinary release object, not a hook.
    assert stored["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    # The migration Job runs before the release's Secrets exist (pre-install): its hook Secret has the same key.
    assert decoded(one(objects, "Secret", "filas-migrations"), "opt-out-key") == key
    assert secret_ref(env(objects, "Job/filas-migrations")["FILAS_OPT_OUT_KEY"]) == {
        "name": "filas-migrations", "key": "opt-out-key"}
    for service in ("filas-api", "filas-campaign-worker"):
        assert secret_ref(env(objects, service)["FILAS_OPT_OUT_KEY"]) == {
            "name": OPT_OUT_KEY_SECRET, "key": "opt-out-key"}


def test_a_given_opt_out_key_is_the_one_stored() -> None:
    objects = render(FULL)
    given = "ci-opt-out-key-0123456789abcdef0123456789abcdef"
    assert decoded(one(objects, "Secret", OPT_OUT_KEY_SECRET), "opt-out-key") == given
    assert decoded(one(objects, "Secret", "filas-migrations"), "opt-out-key") == given
    assert "opt-out-key" not in (one(objects, "Secret", "filas").get("data") or {})


@pytest.mark.parametrize(("values_files", "secret", "key"),
                         [(EXTERNAL, "filas-external", "opt-out-key"), (META, "filas-personal-data", "opt-out-key")])
def test_the_opt_out_key_comes_from_the_users_secret_when_asked(values_files, secret, key) -> None:
    objects = render(values_files)
    for workload in OPT_OUT_READERS:
        assert secret_ref(env(objects, workload)["FILAS_OPT_OUT_KEY"]) == {"name": secret, "key": key}
    assert OPT_OUT_KEY_SECRET not in by_kind(objects, "Secret")
    migrations = by_kind(objects, "Secret").get("filas-migrations")
    assert migrations is None or "opt-out-key" not in migrations["data"]
