"""The CT lock and the decision history, without a pipeline run (a fake runner)."""

import datetime

import pytest

from framework.ct import history
from framework.ct.lock import ct_lock
from framework.ct.loop import run_once, watch
from framework.ct.triggers import TriggerResult, evaluate
from framework.runners.base import RunResult
from tests.ct.helpers import settings_for


class CountingRunner:
    started = 0

    def __init__(self, settings, **options):
        pass

    def run(self, progress=None):
        CountingRunner.started += 1
        return RunResult("taxi", f"run-{CountingRunner.started}", "fake", succeeded=True)


@pytest.fixture
def fake_runner(monkeypatch):
    import framework.runners

    CountingRunner.started = 0
    monkeypatch.setattr(framework.runners, "get_runner",
                        lambda name, settings, **options: CountingRunner(settings))


FIRED = [TriggerResult("new_data", True, "new span 3", [{"span": 3}])]


def test_a_held_lock_makes_the_other_check_skip_without_running(tmp_path, fake_runner):
    settings = settings_for(tmp_path)
    with ct_lock(settings) as held:
        assert held
        decision = run_once(settings, command="watch", triggers=FIRED)
    assert decision.action == "skipped"
    assert CountingRunner.started == 0
    assert "holds the CT lock" in history.read(settings)[-1]["reason"]


def test_fired_decision_runs_once_and_records_evidence_and_run(tmp_path, fake_runner):
    settings = settings_for(tmp_path)
    decision = run_once(settings, triggers=FIRED)
    assert decision.action == "run" and CountingRunner.started == 1
    record = history.read(settings)[-1]
    assert record["fired"] == ["new_data"]
    assert record["triggers"][0]["evidence"] == [{"span": 3}]
    assert record["run"]["run_id"] == "run-1" and record["run"]["succeeded"] is True


def test_watch_records_every_decision_fired_or_not(tmp_path, fake_runner):
    settings = settings_for(tmp_path, MLOPS_CT__NEW_DATA="false", MLOPS_CT__DRIFT__ENABLED="false")
    decisions = watch(settings, interval=0, max_iterations=3, sleep=lambda s: None)
    assert [d.action for d in decisions] == ["none"] * 3
    assert len(history.read(settings)) == 3 and CountingRunner.started == 0


def test_schedule_fires_when_no_run_followed_the_last_tick(tmp_path):
    settings = settings_for(tmp_path, MLOPS_CT__SCHEDULE="0 3 * * *")
    now = datetime.datetime(2026, 11, 28, 4, 0, tzinfo=datetime.timezone.utc)
    [result] = evaluate(settings, ["schedule"], now=now)
    assert result.fired and "no run yet" in result.reason
    assert result.evidence[0]["last_tick"].startswith("2026-11-28T03:00")


def test_new_data_without_input_files_does_not_fire(tmp_path):
    settings = settings_for(tmp_path, MLOPS_PIPELINE__DATA_ROOT=str(tmp_path / "empty"),
                            MLOPS_PIPELINE__INPUT_PATTERN="span-{SPAN}/*.csv")
    [result] = evaluate(settings, ["new_data"])
    assert not result.fired and "no input files match" in result.reason
