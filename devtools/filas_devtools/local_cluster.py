"""The Kubernetes cluster of the chart's cluster tests (`make test-cluster`, tests/cluster).

Two ways, like the throw-away Redis and PostgreSQL of `make test`:
- KUBECONFIG is set: the tests use that cluster (kind, k3d, minikube...) and leave it running. Its nodes must
  already hold the images (`kind load docker-image ...`, `minikube image load ...`): see the README.
- it is not: a single-node cluster is started here with the launcher of ../shared/k8s-local (FILAS_K8S_LOCAL
  names another copy), as root. Its Kubernetes binaries are built from Kubernetes' own Go modules once (about
  13 minutes cold) into /opt/k8s-local/bin and kept; the cluster itself is started for the run (about 35 s) and
  purged afterwards. Images reach its containerd without a registry: `podman save | ctr import`.
"""

import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = Path(os.environ.get("FILAS_K8S_LOCAL", REPO_ROOT.parent / "shared" / "k8s-local"))
LAUNCHER_PREFIX = Path(os.environ.get("PREFIX", "/opt/k8s-local"))
LAUNCHER_KUBECONFIG = Path(os.environ.get("STATE", "/var/lib/k8s-local")) / "pki" / "admin.kubeconfig"
CONTAINERD_SOCKET = Path(os.environ.get("RUNDIR", "/run/k8s-local")) / "containerd" / "containerd.sock"
GO_DIRS = ("/usr/local/go/bin",)  # where Go's own installer puts it; the launcher's build needs Go >= 1.26
BUILD_SECONDS = 40 * 60  # a cold build is about 13 minutes on 2 cores
UP_SECONDS = 5 * 60


class ClusterUnavailable(RuntimeError):
    """No cluster: KUBECONFIG unset and the launcher absent, not root, or failing."""


@dataclass(frozen=True)
class Cluster:
    kubeconfig: str
    kubectl: str
    started_here: bool  # by this module with the launcher: images are imported, and it is purged at the end

    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": self.kubeconfig}


def start(log_dir: Path) -> Cluster:
    """The cluster of KUBECONFIG, or one started with the launcher (its output in log_dir)."""
    if os.environ.get("KUBECONFIG"):
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            raise ClusterUnavailable("KUBECONFIG is set but kubectl is not on PATH")
        return Cluster(os.environ["KUBECONFIG"], kubectl, started_here=False)
    _check_launcher()
    _run_launcher("build.sh", log_dir, BUILD_SECONDS)
    _run_launcher("up.sh", log_dir, UP_SECONDS)
    return Cluster(str(LAUNCHER_KUBECONFIG), str(LAUNCHER_PREFIX / "bin" / "kubectl"), started_here=True)


def stop(cluster: Cluster, log_dir: Path) -> None:
    """Stop a cluster this module started and remove its state (the built binaries stay); FILAS_KEEP_CLUSTER=1
    leaves it running, to look around after a failure (`../shared/k8s-local/down.sh` stops it)."""
    if cluster.started_here and os.environ.get("FILAS_KEEP_CLUSTER") != "1":
        _run_launcher("down.sh", log_dir, UP_SECONDS, PURGE="1")


def import_images(cluster: Cluster, images: Iterable[str], engine: str = "podman") -> None:
    """Copy images from the container engine into the node's containerd (a cluster started here only)."""
    if not cluster.started_here:
        return
    ctr = ["ctr", "--address", str(CONTAINERD_SOCKET), "-n", "k8s.io", "images", "import", "-"]
    for image in images:
        save = subprocess.Popen([engine, "save", image], stdout=subprocess.PIPE)
        imported = subprocess.run(ctr, stdin=save.stdout, capture_output=True, text=True, timeout=600, check=False)
        save.stdout.close()
        if save.wait(timeout=60) != 0 or imported.returncode != 0:
            raise RuntimeError(f"could not import {image} into the cluster: {imported.stderr.strip()}")


def _check_launcher() -> None:
    if not (LAUNCHER / "up.sh").is_file():
        raise ClusterUnavailable(
            f"no KUBECONFIG and no cluster launcher at {LAUNCHER}: point KUBECONFIG at a cluster (kind, k3d, "
            "minikube) or FILAS_K8S_LOCAL at a copy of k8s-local"
        )
    if os.geteuid() != 0:
        raise ClusterUnavailable("the k8s-local launcher needs root: run as root, or point KUBECONFIG at a cluster")


def _run_launcher(script: str, log_dir: Path, timeout: float, **env: str) -> None:
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"k8s-local-{Path(script).stem}.log"
    path = os.pathsep.join([os.environ.get("PATH", ""), *GO_DIRS])
    with log.open("w") as out:
        result = subprocess.run(
            ["bash", str(LAUNCHER / script)], stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "PATH": path, **env}, timeout=timeout, check=False,
        )
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise ClusterUnavailable(f"k8s-local {script} failed (exit {result.returncode}); end of {log}:\n{tail}")
