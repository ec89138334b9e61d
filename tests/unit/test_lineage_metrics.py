"""`mlops lineage` shows every overall metric the evaluation recorded, sorted by name."""

from __future__ import annotations

from types import SimpleNamespace

from framework.metadata import lineage


class _Graph:
    """Just enough of lineage.Graph for one step: no producer execution."""

    def producer(self, artifact):
        return None


def test_evaluation_step_shows_every_recorded_metric_in_name_order(monkeypatch):
    import framework.metadata.outcome

    recorded = {"root_mean_squared_error": 1.234567, "example_count": 500.0,
                "mean_absolute_error": 0.98765, "execution": 1.0}
    monkeypatch.setattr(framework.metadata.outcome, "evaluation_metrics", lambda uri: recorded)
    step = lineage._evaluation_step(_Graph(), SimpleNamespace(id=7, uri="/eval"))
    assert step.stage == "evaluation" and step.artifact_id == 7
    assert list(step.details) == ["example_count", "execution", "mean_absolute_error",
                                  "root_mean_squared_error"]
    assert step.details["root_mean_squared_error"] == 1.2346
    shown = lineage.format_lineage("p", "latest", [step])
    assert "example_count=500.0  execution=1.0  mean_absolute_error=0.9877" in shown


def test_an_unreadable_evaluation_still_gives_its_step(monkeypatch):
    import framework.metadata.outcome

    def broken(uri):
        raise OSError("gone")

    monkeypatch.setattr(framework.metadata.outcome, "evaluation_metrics", broken)
    step = lineage._evaluation_step(_Graph(), SimpleNamespace(id=8, uri="/eval"))
    assert step.details == {}
