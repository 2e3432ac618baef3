"""NOTES.txt tells the user how to reach the API and get a token, where to point the WhatsApp gateway's webhook
and where the opt-out key is, whatever the values (rendered through a copy of the chart with a template that
includes it: `helm template` does not print NOTES)."""

import shutil

import pytest
import yaml
from chart_rendering import CHART, RELEASE, VALUES_CASES, run_helm

PROBE = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\n"
    'data:\n  notes: {{ include "filas/templates/NOTES.txt" . | quote }}\n'
)


@pytest.fixture(scope="module")
def chart_with_notes(tmp_path_factory):
    chart = tmp_path_factory.mktemp("chart") / "filas"
    shutil.copytree(CHART, chart)
    (chart / "templates" / "zz-notes.yaml").write_text(PROBE)
    return chart


def notes(chart, values_files=(), sets=()) -> str:
    flags = [flag for path in values_files for flag in ("-f", str(path))]
    flags += [flag for assignment in sets for flag in ("--set", assignment)]
    result = run_helm("template", RELEASE, str(chart), "-n", "filas", "-s", "templates/zz-notes.yaml", *flags)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["data"]["notes"]


@pytest.mark.parametrize("values_files", VALUES_CASES)
def test_notes_say_how_to_reach_the_api_and_get_a_token(chart_with_notes, values_files) -> None:
    text = notes(chart_with_notes, values_files)
    assert "export API=" in text and "/healthz" in text
    assert "TOKEN" in text and "Authorization: Bearer $TOKEN" in text
    assert "kubectl scale deployment" in text


def test_notes_point_at_the_service_port_forward_or_the_ingress(chart_with_notes) -> None:
    assert "kubectl port-forward --namespace filas service/filas-api 8000:80" in notes(chart_with_notes)
    full = notes(chart_with_notes, (CHART / "ci" / "full-values.yaml",))
    assert "export API=https://filas.example.org" in full
    assert "jsonpath='{.data.api-tokens}'" in full


def test_notes_warn_when_redis_or_postgresql_is_missing(chart_with_notes) -> None:
    assert "WARNING: no Redis is configured" in notes(chart_with_notes)
    assert "WARNING" not in notes(chart_with_notes, (CHART / "ci" / "external-values.yaml",))


META = (CHART / "ci" / "meta-gateway-values.yaml",)


def test_notes_point_the_evolution_webhook_at_the_api_with_the_bearer_header(chart_with_notes) -> None:
    text = notes(chart_with_notes)
    assert '"url": "$API/api/webhooks/evolution"' in text
    assert '"headers": {"Authorization": "Bearer <FILAS_WEBHOOK_TOKEN>"}' in text
    assert "?token=<FILAS_WEBHOOK_TOKEN>" in text  # the fallback, for an Evolution without headers
    assert "No FILAS_WEBHOOK_TOKEN is set" in text
    full = notes(chart_with_notes, (CHART / "ci" / "full-values.yaml",))
    assert "jsonpath='{.data.webhook-token}'" in full and "No FILAS_WEBHOOK_TOKEN" not in full
    external = notes(chart_with_notes, (CHART / "ci" / "external-values.yaml",))
    assert "filas-external" in external and "jsonpath='{.data.webhook-token}'" in external


def test_notes_point_the_cloud_api_webhook_at_the_api(chart_with_notes) -> None:
    text = notes(chart_with_notes, META)
    assert "callback URL $API/api/webhooks/meta" in text and "FILAS_META_VERIFY_TOKEN" in text
    assert "/api/webhooks/evolution" not in text


def test_notes_say_where_the_opt_out_key_is(chart_with_notes) -> None:
    text = notes(chart_with_notes)
    assert "kubectl get secret --namespace filas filas-opt-out-key -o jsonpath='{.data.opt-out-key}'" in text
    assert "Secret filas-personal-data (key opt-out-key)" in notes(chart_with_notes, META)
