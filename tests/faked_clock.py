"""Real Filas processes under a faked clock (libfaketime), for the tests of what happens at a given hour.

    env = {**service_env, **faked_clock_env(libfaketime_or_skip(), at_local(day, "10:30"))}
    with campaign_worker(env, tmp_path / "worker.log"):
        ...
        wait_for(lambda: job_is_final(...), 60, "the follow-up ending")  # tests/waiting.py

The clock starts at the given instant when the process starts and then runs at its normal pace.
"""

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
BIN = Path(sys.executable).parent
FORTALEZA = ZoneInfo("America/Fortaleza")


def libfaketime_or_skip() -> str:
    found = sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))
    if not found:
        if IN_CI:
            pytest.fail("libfaketime is not installed (apt-get install faketime)")
        pytest.skip("libfaketime is not installed (apt-get install faketime)")
    return str(found[0])


def at_local(day: date, hh_mm: str, zone: ZoneInfo = FORTALEZA) -> datetime:
    return datetime.combine(day, clock_time.fromisoformat(hh_mm), tzinfo=zone)


def faked_clock_env(libfaketime: str, start: datetime) -> dict[str, str]:
    """The environment that starts a process's clock at `start` (an aware datetime)."""
    utc = start.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M:%S")
    return {"LD_PRELOAD": libfaketime, "FAKETIME": f"@{utc}", "FAKETIME_DONT_RESET": "1", "TZ": "UTC"}


@contextmanager
def campaign_worker(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """`dramatiq filas_campaigns.worker`, as the stack runs it; killed (with its forks) at the end."""
    with log.open("w") as output:
        process = subprocess.Popen(
            [str(BIN / "dramatiq"), "filas_campaigns.worker", "--processes", "1", "--threads", "2"],
            env={"FILAS_METRICS_PORT": "0", **env}, start_new_session=True, stdout=output, stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
