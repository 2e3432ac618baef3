"""Read a service's Prometheus metrics the way Prometheus does: over HTTP, in the text format."""

import httpx
from prometheus_client.parser import text_string_to_metric_families


def scrape(port: int) -> str:
    return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text


def sample(metrics: str, name: str, **labels: str) -> float:
    """The value of the sample `name` with exactly these labels; fails if there is none."""
    return next(sample.value for family in text_string_to_metric_families(metrics) for sample in family.samples
                if sample.name == name and sample.labels == labels)
