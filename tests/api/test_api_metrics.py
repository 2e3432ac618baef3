"""The API's request metrics under gunicorn with two worker processes (the stack's API runs one): counted
by route template, method and status, summed over the workers, and kept when the workers die and are
replaced (prometheus-client's multiprocess files, emptied when the master starts)."""

import os
import signal
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from waiting import wait_for

from filas_devtools.stack import Stack, StackConfig, process_specs

UNKNOWN_JOB = "01234567-89ab-4def-8123-456789abcdef"
TIMEOUT = 90
HTTP_TIMEOUT = 30  # a worker that has just been forked imports the app before it answers


@pytest.fixture
def api(redis_url: str, database_url: str, tmp_path: Path) -> Iterator[Stack]:
    """The stack's API process alone, with FILAS_API_WORKERS=2."""
    config = StackConfig.with_free_ports(redis_url, database_url)
    spec = next(spec for spec in process_specs(config, tmp_path) if spec.name == "api")
    spec = replace(spec, env={**spec.env, "FILAS_API_WORKERS": "2"})
    with Stack(config, tmp_path, specs=[spec], setup=[]) as stack:
        yield stack


def gunicorn_workers(stack: Stack) -> list[int]:
    master = stack.processes["api"].popen.pid
    return [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()]


def get(stack: Stack, path: str, **kwargs) -> httpx.Response:
    """A new connection each time: either worker may answer."""
    return httpx.get(f"{stack.api_url}{path}", timeout=HTTP_TIMEOUT, **kwargs)


def requests_counted(stack: Stack) -> dict[tuple[str, str, str], float]:
    """filas_http_requests_total by (route, method, status), without the scrapes and readiness checks."""
    return {
        (s.labels["route"], s.labels["method"], s.labels["status"]): s.value
        for family in text_string_to_metric_families(get(stack, "/metrics").text)
        if family.name == "filas_http_requests"
        for s in family.samples if s.labels["route"] not in ("/metrics", "/readyz")
    }


def make_requests(stack: Stack) -> None:
    for _ in range(3):
        assert get(stack, "/healthz").status_code == 200
    auth = {"Authorization": f"Bearer {stack.token}"}
    assert get(stack, f"/portal/api/status-job/{UNKNOWN_JOB}", headers=auth).status_code == 404
    assert get(stack, "/portal/api/status-filas").status_code == 401
    assert get(stack, f"/no/such/path/{UNKNOWN_JOB}").status_code == 404


def test_requests_are_counted_by_route_template_over_both_workers_and_outlive_them(api):
    make_requests(api)
    once = {
        ("/healthz", "GET", "200"): 3,
        ("/portal/api/status-job/<message_id:job_id>", "GET", "404"): 1,
        ("/portal/api/status-filas", "GET", "401"): 1,
        ("unmatched", "GET", "404"): 1,
    }
    assert requests_counted(api) == once

    workers = gunicorn_workers(api)
    assert len(workers) == 2
    for pid in workers:
        os.kill(pid, signal.SIGKILL)  # their counts live on in their files
    wait_for(lambda: len(set(gunicorn_workers(api)) - set(workers)) == 2, TIMEOUT, "gunicorn replacing both workers")
    wait_for(lambda: get(api, "/healthz").status_code == 200, TIMEOUT, "the new workers answering")

    make_requests(api)
    twice = {key: 2 * count for key, count in once.items()} | {("/healthz", "GET", "200"): 7}  # + the wait's one
    assert requests_counted(api) == twice

    text = get(api, "/metrics").text
    assert 'filas_http_request_duration_seconds_count{method="GET",route="/healthz"} 7.0' in text
    assert 'filas_queue_messages{queue="atacadao",state="ready"} 0.0' in text  # the queue depths, once
