"""kubectl and helm against the test cluster, in the tests' namespace (the release, its values), and
`kubectl port-forward` to reach a Service from this machine (loopback only)."""

import json
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from waiting import wait_for

from filas_devtools.local_cluster import Cluster

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
CHART = REPO_ROOT / "charts" / "filas"
VALUES = HERE / "values.yaml"
NAMESPACE = "filas-cluster-test"
RELEASE = "filas"
COMMAND_SECONDS = 600  # `helm install --wait` included; its own --timeout is shorter
_FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+)")


def helm_binary() -> str:
    """The pinned helm of `make tools` (HELM overrides)."""
    helm = os.environ.get("HELM") or str(REPO_ROOT / ".tools" / "bin" / "helm")
    if not os.access(helm, os.X_OK):
        raise RuntimeError(f"helm not found at {helm}: run `make tools`")
    return helm


class Kube:
    def __init__(self, cluster: Cluster, namespace: str):
        self.cluster = cluster
        self.namespace = namespace
        self.helm_path = helm_binary()

    def kubectl(self, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return self._run([self.cluster.kubectl, "-n", self.namespace, *args], check, stdin)

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._run([self.helm_path, "-n", self.namespace, *args], check)

    def get(self, *args: str) -> Any:
        """`kubectl get ... -o json`, parsed."""
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def recreate_namespace(self) -> None:
        self._run([self.cluster.kubectl, "delete", "namespace", self.namespace, "--ignore-not-found", "--wait"], True)
        self._run([self.cluster.kubectl, "create", "namespace", self.namespace], True)

    def apply(self, *manifests: Path) -> None:
        for manifest in manifests:
            self.kubectl("apply", "-f", str(manifest))

    def wait_rollout(self, *workloads: str, timeout: str = "300s") -> None:
        for workload in workloads:
            self.kubectl("rollout", "status", workload, f"--timeout={timeout}")

    def pods(self, component: str) -> list[dict[str, Any]]:
        """The live (not terminating) pods of one of the chart's components."""
        items = self.get("pods", "-l", f"app.kubernetes.io/component={component}")["items"]
        return [pod for pod in items if not pod["metadata"].get("deletionTimestamp")]

    @contextmanager
    def port_forward(self, target: str, port: int) -> Iterator[httpx.Client]:
        """An HTTP client for `target` (e.g. svc/filas-api) through `kubectl port-forward` on a free local port."""
        process = subprocess.Popen(
            [self.cluster.kubectl, "-n", self.namespace, "port-forward", "--address", "127.0.0.1", target, f":{port}"],
            env=self.cluster.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            line = process.stdout.readline()  # the first line says which local port it listens on
            found = _FORWARDING.search(line)
            if found is None:
                raise AssertionError(f"kubectl port-forward {target} failed: {line}{process.stderr.read()}")
            with httpx.Client(base_url=f"http://127.0.0.1:{found.group(1)}", timeout=30) as client:
                wait_for(lambda: _answers(client), 30, f"{target} to answer through port-forward")
                yield client
        finally:
            process.terminate()
            process.wait(timeout=10)

    def _run(self, command: list[str], check: bool, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(command, input=stdin, capture_output=True, text=True, env=self.cluster.env(),
                                timeout=COMMAND_SECONDS, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr}{result.stdout}")
        return result


def _answers(client: httpx.Client) -> bool:
    try:
        client.get("/")
    except httpx.TransportError:
        return False
    return True
