"""NOTES.txt tells the user how to reach the API and get a token, whatever the values (rendered through a copy of
the chart with a template that includes it: `helm template` does not print NOTES)."""

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
