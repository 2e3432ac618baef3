"""k8s/: the kustomize base is what the chart renders (scripts/render_k8s.py --check), its objects validate
against the Kubernetes schemas, and the overlays build (with kubectl's kustomize, when kubectl is installed)."""

import shutil
import subprocess
import sys

import kubernetes_validate
import pytest
import yaml
from chart_rendering import REPO_ROOT, require_helm

K8S = REPO_ROOT / "k8s"
OVERLAYS = sorted(path.parent for path in (K8S / "overlays").glob("*/kustomization.yaml"))


def test_k8s_base_matches_the_chart() -> None:
    helm = require_helm()
    result = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "render_k8s.py"), "--check"],
                            check=False, capture_output=True, text=True,
                            env={"HELM": helm, "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"


def test_k8s_base_objects_validate() -> None:
    kustomization = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())
    assert kustomization["resources"]
    for name in kustomization["resources"]:
        for obj in yaml.safe_load_all((K8S / "base" / name).read_text()):
            for version in ("1.30.0", kubernetes_validate.utils.latest_version()):
                kubernetes_validate.validate(obj, version, strict=True)
            labels = obj["metadata"]["labels"]
            assert "helm.sh/chart" not in labels and labels["app.kubernetes.io/managed-by"] == "kustomize"
            assert not any(key.startswith("helm.sh/") for key in obj["metadata"].get("annotations", {}))


def test_k8s_base_reads_every_secret_from_the_users_secret() -> None:
    kinds = [obj["kind"] for path in (K8S / "base").glob("*.yaml") if path.name != "values.yaml"
             for obj in yaml.safe_load_all(path.read_text()) if obj]
    assert "Secret" not in kinds


@pytest.mark.parametrize("overlay", OVERLAYS, ids=[path.name for path in OVERLAYS])
def test_overlay_builds(overlay) -> None:
    assert OVERLAYS
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed: the overlay is not built")
    result = subprocess.run([kubectl, "kustomize", str(overlay)], check=False, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    objects = [obj for obj in yaml.safe_load_all(result.stdout) if obj]
    assert {obj["metadata"].get("namespace") for obj in objects} == {"filas"}
    for obj in objects:
        kubernetes_validate.validate(obj, "1.30.0", strict=True)
