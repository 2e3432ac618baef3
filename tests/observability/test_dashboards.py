"""The Grafana dashboards: valid JSON, unique uids, every panel and query on the datasource variable,
namespace and queue variables, and every PromQL expression parsed by promtool."""

import json
from pathlib import Path

import pytest
from dashboard_queries import (
    DASHBOARD_FILES,
    DATASOURCE,
    all_queries,
    concrete,
    load,
    panels,
    variable_selectors,
)
from prom_tools import check_expressions

EXPECTED = {"filas-overview.json", "filas-portal.json", "filas-campaigns.json"}
OLDEST_SCHEMA_VERSION = 39  # Grafana 11


def test_the_overview_portal_and_campaign_dashboards_are_there() -> None:
    assert {path.name for path in DASHBOARD_FILES} >= EXPECTED


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda path: path.name)
def test_a_dashboard_is_valid_json_of_a_current_grafana(path: Path) -> None:
    board = json.loads(path.read_text())

    assert board["uid"] and board["title"]
    assert board["schemaVersion"] >= OLDEST_SCHEMA_VERSION


def test_uids_and_titles_are_unique() -> None:
    boards = [load(path) for path in DASHBOARD_FILES]

    assert len({board["uid"] for board in boards}) == len(boards)
    assert len({board["title"] for board in boards}) == len(boards)


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda path: path.name)
def test_a_dashboard_has_datasource_namespace_and_queue_variables(path: Path) -> None:
    variables = {variable["name"]: variable for variable in load(path)["templating"]["list"]}

    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("namespace", "queue"):
        assert variables[name]["type"] == "query"
        assert variables[name]["datasource"] == DATASOURCE


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda path: path.name)
def test_every_panel_and_query_uses_the_datasource_variable(path: Path) -> None:
    board = load(path)
    wrong = [panel["title"] for panel in panels(board)
             if panel["type"] != "row" and panel.get("datasource") != DATASOURCE]
    wrong += [f"{panel['title']} / {target['refId']}" for panel in panels(board)
              for target in panel.get("targets", []) if target.get("datasource") != DATASOURCE]

    assert not wrong, f"not on ${{datasource}}: {wrong}"
    assert all(panel.get("targets") for panel in panels(board) if panel["type"] != "row"), "a panel without query"


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda path: path.name)
def test_panel_ids_are_unique_within_a_dashboard(path: Path) -> None:
    ids = [panel["id"] for panel in panels(load(path))]

    assert len(set(ids)) == len(ids)


def test_every_query_and_variable_selector_parses(tmp_path: Path) -> None:
    expressions = {query.name: concrete(query.expr) for query in all_queries()}
    for path in DASHBOARD_FILES:
        board = load(path)
        expressions |= {f"{board['title']} / ${name}": concrete(selector)
                        for name, selector in variable_selectors(board).items()}

    checked = check_expressions(expressions, tmp_path)

    listing = "\n".join(f"{index}: {name}: {expr}" for index, (name, expr) in enumerate(expressions.items()))
    assert checked.returncode == 0, f"{checked.stdout}{checked.stderr}\n{listing}"
