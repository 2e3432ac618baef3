"""`helm lint --strict` passes with the chart's defaults and with every values file in charts/filas/ci/."""

import pytest
from chart_rendering import CHART, VALUES_CASES, lint


@pytest.mark.parametrize("values_files", VALUES_CASES)
def test_helm_lint_strict_passes(values_files) -> None:
    result = lint(values_files)
    assert result.returncode == 0, f"helm lint --strict failed:\n{result.stdout}\n{result.stderr}"
    assert "0 chart(s) failed" in result.stdout


def test_ci_values_files_cover_the_full_featured_and_the_external_setups() -> None:
    names = {path.name for path in (CHART / "ci").glob("*.yaml")}
    assert {"full-values.yaml", "external-values.yaml"} <= names
