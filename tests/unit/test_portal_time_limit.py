"""A booking attempt's time limit is a setting (FILAS_PORTAL_TIME_LIMIT_SECONDS, 30 minutes by default),
bound by the portal worker when it starts. Each case imports the worker in a fresh interpreter, as the
dramatiq command does."""

import os
import subprocess
import sys

import pytest

PRINT_TIME_LIMIT = "import filas_portal.worker as w; print(w.schedule_booking_actor.options['time_limit'])"


def bound_time_limit_ms(**env: str) -> int:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("FILAS_")}
    result = subprocess.run([sys.executable, "-c", PRINT_TIME_LIMIT], env={**clean, "FILAS_METRICS_PORT": "0", **env},
                            capture_output=True, text=True, timeout=120, check=True)
    return int(result.stdout.split()[-1])


@pytest.mark.parametrize("env, expected_ms", [
    ({}, 30 * 60 * 1000),
    ({"FILAS_PORTAL_TIME_LIMIT_SECONDS": "90"}, 90_000),
], ids=["default", "configured"])
def test_the_portal_worker_binds_the_configured_time_limit(env, expected_ms):
    assert bound_time_limit_ms(**env) == expected_ms
