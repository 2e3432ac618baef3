"""A throwaway real Prometheus (the installed `prometheus` binary, Debian's package): free loopback port,
temp dir for its config and data, deleted when it stops.

    targets = {"api": ["127.0.0.1:8000"], "portal-worker": ["127.0.0.1:9191"]}
    with PrometheusServer(targets, rule_files=[rules]) as prometheus:
        httpx.get(f"{prometheus.url}/api/v1/query", params={"query": "up"})
"""

import json
import shutil
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from filas_devtools.ports import HOST, http_status
from filas_devtools.throwaway_server import ThrowawayServer


class PrometheusNotFound(RuntimeError):
    pass


def find_prometheus() -> str:
    found = shutil.which("prometheus")
    if found is None:
        raise PrometheusNotFound("No prometheus binary found: install it (Debian: apt-get install prometheus)")
    return found


def scrape_config(
    targets: Mapping[str, Sequence[str]],
    rule_files: Sequence[Path],
    interval: str,
    labels: Mapping[str, str],
) -> dict:
    """Prometheus's configuration: one scrape job per name in `targets`, `labels` on every series."""
    return {
        "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": list(addresses), "labels": dict(labels)}]}
            for job, addresses in targets.items()
        ],
    }


class PrometheusServer(ThrowawayServer):
    name = "prometheus"
    stop_grace = 10.0

    def __init__(
        self,
        targets: Mapping[str, Sequence[str]],
        rule_files: Sequence[Path] = (),
        interval: str = "1s",
        labels: Mapping[str, str] | None = None,
        binary: str | None = None,
        start_timeout: float = 30.0,
    ):
        """`interval` is the scrape and rule evaluation interval; `labels` are added to every target."""
        super().__init__(binary=binary, start_timeout=start_timeout)
        self.targets = targets
        self.rule_files = list(rule_files)
        self.interval = interval
        self.labels = labels or {}

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.dir / "prometheus.yml"

    def find_binary(self) -> str:
        return find_prometheus()

    def prepare(self) -> None:
        config = scrape_config(self.targets, self.rule_files, self.interval, self.labels)
        self.config_path.write_text(json.dumps(config, indent=2))  # JSON is YAML: no YAML writer needed

    def argv(self) -> list[str]:
        return [self.binary, f"--config.file={self.config_path}", f"--storage.tsdb.path={self.dir / 'data'}",
                f"--web.listen-address={HOST}:{self.port}"]

    def wait_ready(self) -> bool:
        deadline = time.monotonic() + self._start_timeout
        while self._process.poll() is None:
            if http_status(f"{self.url}/-/ready", timeout=1.0) == 200 and self._answering_is_ours():
                return True
            if time.monotonic() > deadline:
                raise TimeoutError(f"prometheus not ready in {self._start_timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.05)
        return False

    def _answering_is_ours(self) -> bool:
        """Whether the server on our port runs our config, not another Prometheus that had the port."""
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/status/flags", timeout=1.0) as response:
                flags = json.load(response)["data"]
        except (OSError, ValueError, KeyError):
            return False
        return flags.get("config.file") == str(self.config_path)
