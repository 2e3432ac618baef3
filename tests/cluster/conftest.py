"""Fixtures of the chart's cluster tests (`make test-cluster`): a live Kubernetes, the images of `make images`
in it, the release installed from charts/filas with the databases and simulators beside it, and clients that
reach the API and the simulators through `kubectl port-forward` (loopback only).

Without a cluster (no KUBECONFIG, no k8s-local launcher or not root) the tests are skipped on a laptop and fail
in CI: CI must never pass by skipping them.
"""

import os
import subprocess
from collections.abc import Iterator

import pytest
from cluster_access import CHART, HERE, NAMESPACE, RELEASE, REPO_ROOT, VALUES, Kube

from filas_devtools import local_cluster

IN_CI = os.environ.get("CI", "").lower() == "true"
ENGINE = os.environ.get("CONTAINER_ENGINE", "podman")
# `make images` builds these (scripts/build-images.sh, tag = the services' version, the chart's appVersion).
FILAS_IMAGES = [f"localhost/filas-{name}:0.1.0"
                for name in ("api", "portal-worker", "campaign-worker", "scheduler", "portal-sim", "whatsapp-sim")]
# Stand-ins of the official redis and postgres images, built here from Debian's packages.
TEST_IMAGES = {"localhost/filas-test-redis:7-debian": "redis.Containerfile",
               "localhost/filas-test-postgres:15-debian": "postgres.Containerfile"}


@pytest.fixture(scope="session")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kube]:
    logs = tmp_path_factory.mktemp("k8s-local")
    try:
        cluster = local_cluster.start(logs)
    except local_cluster.ClusterUnavailable as error:
        if IN_CI:
            pytest.fail(f"no Kubernetes cluster for the chart tests: {error}")
        pytest.skip(str(error))
    try:
        _build_test_images()
        local_cluster.import_images(cluster, [*FILAS_IMAGES, *TEST_IMAGES], ENGINE)
        kube = Kube(cluster, NAMESPACE)
        kube.recreate_namespace()
        yield kube
    finally:
        local_cluster.stop(cluster, logs)


@pytest.fixture(scope="session")
def installed(kube: Kube) -> Kube:
    """The release installed (`helm install --wait`) with its databases and simulators running beside it."""
    kube.apply(HERE / "databases.yaml", HERE / "simulators.yaml")
    kube.wait_rollout("deployment/redis", "deployment/postgresql", "deployment/portal-sim", "deployment/whatsapp-sim")
    kube.helm("install", RELEASE, str(CHART), "-f", str(VALUES), "--wait", "--timeout", "8m")
    return kube


def _build_test_images() -> None:
    base = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "build-images.sh"), "--base-only"],
        capture_output=True, text=True, check=True, timeout=900,
    ).stdout.strip()
    for image, containerfile in TEST_IMAGES.items():
        subprocess.run(
            [ENGINE, "build", "-q", "--build-arg", f"BASE_IMAGE={base}", "-t", image, "-f",
             str(HERE / "images" / containerfile), str(HERE / "images")],
            check=True, timeout=900, capture_output=True,
        )
