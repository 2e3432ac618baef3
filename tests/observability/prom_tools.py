"""The installed Prometheus tools (Debian's `prometheus` package): promtool, and a PromQL syntax check.

Without them the tests that need them are skipped on a laptop and fail in CI (CI=true), as
tests/conftest.py does for Redis, PostgreSQL and Chromium."""

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn

import pytest
import yaml

IN_CI = os.environ.get("CI", "").lower() == "true"
PROMTOOL_TIMEOUT = 60


def missing(what: str) -> NoReturn:
    """Skip the test on a laptop; fail it in CI."""
    if IN_CI:
        pytest.fail(f"{what} (required when CI=true)", pytrace=False)
    pytest.skip(what)


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        missing("No promtool found: install Prometheus (Debian: apt-get install prometheus)")
    return found


def run_promtool(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=PROMTOOL_TIMEOUT, check=False)


def check_expressions(expressions: Mapping[str, str], directory: Path) -> subprocess.CompletedProcess[str]:
    """`promtool check rules` on a rules file with one recording rule per expression: promtool has no
    command that parses a bare expression, but it parses every rule's."""
    rules = [{"record": f"filas_check:expression_{index}", "expr": expr}
             for index, expr in enumerate(expressions.values())]
    path = directory / "expressions.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "expressions", "rules": rules}]}, sort_keys=False))
    return run_promtool("check", "rules", path)
