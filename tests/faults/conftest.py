"""Fault tests (tests/faults): each module runs a system of its own (faultkit.own_system) and breaks it for
real. A failing test's report shows the tail of every process's log; each test's findings (e.g. how many
messages ended with an unknown outcome) are printed in a "fault report" section at the end of the run."""

from collections.abc import Iterator

import pytest
from faultkit import FaultSystem

REPORT = "fault_report"


@pytest.fixture
def fault_report(record_property) -> "Iterator[callable]":
    """Call it with a line to show in the run's fault report (and in the JUnit XML, as a property)."""
    lines: list[str] = []

    def report(line: str) -> None:
        lines.append(line)
        print(line)  # also in the test's captured output

    yield report
    if lines:
        record_property(REPORT, "\n".join(lines))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[pytest.TestReport]:
    report = yield
    system = getattr(item, "funcargs", {}).get("system")
    if report.failed and isinstance(system, FaultSystem):
        stack = system.stack
        exited = ", ".join(f"{name} (exit {code})" for name, code in stack.exited().items()) or "none"
        restarts = ", ".join(f"{name} (exit {code})" for name, code in system.supervisor.restarts) or "none"
        report.sections.append(("fault system logs", f"exited: {exited}; restarted by the supervisor: "
                                                     f"{restarts}\n{stack.tails(80)}"))
    return report


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    found = [(report.nodeid, value) for reports in terminalreporter.stats.values() for report in reports
             if getattr(report, "when", None) == "teardown"
             for name, value in getattr(report, "user_properties", ()) if name == REPORT]
    if found:
        terminalreporter.section("fault report")
        for nodeid, text in found:
            terminalreporter.write_line(f"{nodeid}:")
            for line in text.splitlines():
                terminalreporter.write_line(f"    {line}")
