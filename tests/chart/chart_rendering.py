"""Helm for the chart tests: find it, render the chart, lint it.

helm is installed by `make tools` into .tools/bin (HELM overrides). Without it the chart tests are skipped on a
laptop and fail in CI (CI=true): CI must never pass by skipping them.
"""

import functools
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "charts" / "filas"
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
RELEASE = "filas"
IN_CI = os.environ.get("CI", "").lower() == "true"

# Every way the chart is rendered in these tests: the defaults and each ci/*.yaml.
VALUES_CASES = [pytest.param((), id="defaults")] + [
    pytest.param((path,), id=path.stem) for path in CI_VALUES
]


def helm_path() -> str | None:
    for candidate in (os.environ.get("HELM"), str(REPO_ROOT / ".tools" / "bin" / "helm"), shutil.which("helm")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def require_helm() -> str:
    found = helm_path()
    if found is None:
        message = "helm not found: run `make tools` (it builds helm into .tools/bin)"
        if IN_CI:
            pytest.fail(f"{message} (required when CI=true)", pytrace=False)
        pytest.skip(message)
    return found


def run_helm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([require_helm(), *args], check=False, capture_output=True, text=True, timeout=120)


def _flags(values_files: tuple[Path, ...], sets: tuple[str, ...]) -> list[str]:
    flags = []
    for path in values_files:
        flags += ["-f", str(path)]
    for assignment in sets:
        flags += ["--set", assignment]
    return flags


@functools.cache
def _render(values_files: tuple[Path, ...], sets: tuple[str, ...]) -> str:
    result = run_helm("template", RELEASE, str(CHART), *_flags(values_files, sets))
    assert result.returncode == 0, f"helm template failed:\n{result.stderr}"
    return result.stdout


def render(values_files: tuple[Path, ...] = (), sets: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The objects `helm template` renders (hooks included), in Helm's order."""
    return [obj for obj in yaml.safe_load_all(_render(tuple(values_files), tuple(sets))) if obj]


def render_error(values_files: tuple[Path, ...] = (), sets: tuple[str, ...] = ()) -> str:
    """helm template's error output, for values that must be refused."""
    result = run_helm("template", RELEASE, str(CHART), *_flags(values_files, sets))
    assert result.returncode != 0, "helm template accepted values it should refuse"
    return result.stderr


def lint(values_files: tuple[Path, ...] = ()) -> subprocess.CompletedProcess:
    return run_helm("lint", "--strict", str(CHART), *_flags(values_files, ()))


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == kind}


def one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = by_kind(objects, kind)
    assert name in found, f"no {kind} {name}; {kind}s: {sorted(found)}"
    return found[name]


def pod_specs(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """'<Kind>/<name>' -> pod spec of every workload."""
    specs = {}
    for obj in objects:
        if obj["kind"] in ("Deployment", "StatefulSet", "Job", "DaemonSet"):
            specs[f"{obj['kind']}/{obj['metadata']['name']}"] = obj["spec"]["template"]["spec"]
    return specs


def container(objects: list[dict[str, Any]], deployment: str) -> dict[str, Any]:
    containers = one(objects, "Deployment", deployment)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env_names(container_spec: dict[str, Any]) -> list[str]:
    return [entry["name"] for entry in container_spec.get("env", [])]
