"""The Grafana dashboards of charts/filas/files/grafana/dashboards and the PromQL in them."""

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_DIR = REPO_ROOT / "charts" / "filas" / "files" / "grafana" / "dashboards"
DASHBOARD_FILES = sorted(DASHBOARD_DIR.glob("*.json"))
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

# What Grafana puts in place of the template variables: every namespace and queue ("All" is ".*"), and
# intervals a Prometheus that scrapes every minute answers with data.
DEFAULT_VALUES = {"namespace": ".*", "queue": ".*", "__rate_interval": "5m", "__interval": "1m", "__range": "1h"}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
_LABEL_VALUES = re.compile(r"^label_values\((.*),\s*(\w+)\)$", re.DOTALL)


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    ref_id: str
    expr: str

    @property
    def name(self) -> str:
        return f"{self.dashboard} / {self.panel} / {self.ref_id}"


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def panels(board: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def queries(board: Mapping[str, Any]) -> list[Query]:
    return [Query(board["title"], panel["title"], target["refId"], target["expr"])
            for panel in panels(board) for target in panel.get("targets", [])]


def all_queries() -> list[Query]:
    return [query for path in DASHBOARD_FILES for query in queries(load(path))]


def variable_selectors(board: Mapping[str, Any]) -> dict[str, str]:
    """The series selector of each label_values() query variable, by variable name."""
    found = {}
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            match = _LABEL_VALUES.match(query.strip())
            if match is None:
                raise ValueError(f"{board['title']}: variable {variable['name']} is not label_values(): {query}")
            found[variable["name"]] = match.group(1)
    return found


def concrete(expr: str, values: Mapping[str, str] = DEFAULT_VALUES) -> str:
    """The expression Grafana would send, template variables replaced by `values`."""
    return _VARIABLE.sub(lambda match: values[match.group(1) or match.group(2)], expr)
