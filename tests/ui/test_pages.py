"""Each page's data (framework/ui) from a store filled by real runs: the session's taxi run
and the CT run a drifted span fired (tests/ui/conftest.py)."""

from __future__ import annotations

import pytest

from framework.ui.source import Source

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def source(ui_workspace):
    return Source(ui_workspace.settings())


def test_runs_page_lists_every_run_with_trigger_and_cached_nodes(source, ui_workspace):
    from framework.ct import history
    from framework.ui.runs import runs_page

    page = runs_page(source, ct_records=history.read(source.settings))
    rows = {r["run_id"]: r for r in page["runs"]}
    assert [r["run_id"] for r in page["runs"]] == ui_workspace.runs  # newest first
    assert page["counts"]["succeeded"] == len(ui_workspace.runs)
    assert {ui_workspace.first_run, ui_workspace.ct_run} <= set(rows)
    assert rows[ui_workspace.first_run]["trigger"] == "manual"
    assert "drift" in rows[ui_workspace.ct_run]["trigger"]
    assert "new data" in rows[ui_workspace.ct_run]["trigger"]
    assert len(rows[ui_workspace.first_run]["ran"]) == 10
    assert "schema_importer" in rows[ui_workspace.ct_run]["cached"]
    assert rows[ui_workspace.ct_run]["seconds"] > 1


def test_run_graph_has_every_taxi_node_with_data_and_order_edges(source, ui_workspace):
    from framework.ui.run import run_detail

    run = run_detail(source, ui_workspace.first_run, source.settings)
    names = [n["id"] for n in run["nodes"]]
    assert len(names) == 10 and names[0] in ("CsvExampleGen", "schema_importer")
    assert names[-1] == "Pusher"
    edges = set(run["edges"])
    assert ("CsvExampleGen", "StatisticsGen") in edges  # an artifact read (ML-Metadata)
    assert ("ValidationGate", "Transform") in edges  # an order the definition sets
    assert all(n["state"] == "complete" and n["seconds"] is not None for n in run["nodes"])
    assert run["timeline"]["data"][0]["y"][0] == "CsvExampleGen"
    assert run["svg"].count('<g class="node state-complete"') == 10
    assert run["evaluation"]["type"] == "ModelEvaluation" and run["pushed"]


def test_data_page_shows_span_statistics_and_the_drift_that_fired(source):
    from framework.ui.data import data_page

    newest = data_page(source)
    assert newest["span"]["span"] == 1 and len(newest["spans"]) == 2
    features = {f["feature"]: f for f in newest["features"]}
    assert features["trip_miles"]["kind"] == "numeric" and features["trip_miles"]["buckets"]
    assert features["payment_type"]["kind"] == "categorical" and features["payment_type"]["top"]
    assert newest["anomalies_artifact"] is not None and newest["problems"] == []
    baseline = newest["spans"][1]["id"]
    compared = data_page(source, compare=baseline)
    drift = compared["drift"]
    assert drift["drifted"] == ["trip_miles"]
    top = drift["rows"][0]
    assert top["feature"] == "trip_miles" and top["statistic"] == "jensen_shannon_divergence"
    assert top["value"] > top["threshold"] == 0.2
    payment = next(r for r in drift["rows"] if r["feature"] == "payment_type")
    assert payment["statistic"] == "l_infinity" and payment["threshold"] == 0.1


def test_model_page_compares_with_the_baseline_and_says_why_it_was_blessed(source, ui_workspace):
    from framework.ui.model import model_page

    newest = model_page(source)
    assert newest["evaluation"]["run_id"] == ui_workspace.ct_run
    assert newest["has_baseline"] and "baseline" in newest["overall"]["binary_accuracy"]
    assert newest["blessed"] is True and newest["why"][0].startswith("blessed: every threshold")
    assert newest["slice_count"] > 10 and newest["metric"] == "binary_accuracy"
    assert newest["chart"]["data"][0]["x"][0] == "0"  # trip_start_hour values
    first = model_page(source, run=ui_workspace.first_run)
    assert not first["has_baseline"]
    assert any("no blessed baseline" in line for line in first["why"])


def test_lineage_page_goes_from_the_span_to_the_canary_release(source, ui_workspace):
    from framework.ui.lineage import lineage_page

    page = lineage_page(source)
    stages = [s["stage"] for s in page["steps"]]
    assert stages[0] == "span" and stages[-1] == "push" and "evaluation" in stages
    assert page["release"]["known"] and page["release"]["stage"] == "canary"
    assert page["release"]["traffic"] == 25
    assert f'data-node="release {page["version"]}"' in page["svg"]
    older = lineage_page(source, ref=page["pushed"][-1]["version"])
    assert older["release"]["stage"] == "production"


def test_ct_page_has_the_fired_decision_and_the_quiet_one(source, ui_workspace):
    from framework.ui.ct import ct_page

    page = ct_page(source)
    assert page["counts"] == {"decisions": 2, "fired": 1, "runs": 1, "skipped": 0}
    quiet, fired = page["decisions"]
    assert quiet["action"] == "none" and not quiet["fired"]
    assert fired["run"]["run_id"] == ui_workspace.ct_run
    drift = next(t for t in fired["triggers"] if t["name"] == "drift")
    assert drift["fired"] and drift["evidence"]["rows"][0][0] == "trip_miles"


def test_release_page_has_the_canary_against_its_limits_and_the_history(source):
    from framework.ui.release import release_page

    page = release_page(source)
    assert page["canary"] and page["canary_percent"] == 25
    canary = page["canary_view"]
    assert canary["requests"] == 80 and canary["errors"] == 4
    assert canary["error_rate"] == 0.05 and not canary["error_rate_over"]
    assert [h["action"] for h in page["history"]][:2] == ["canary", "promote"]
    assert page["chart"]["data"] and {r["stage"] for r in page["versions"]} == {"production",
                                                                                "canary"}
