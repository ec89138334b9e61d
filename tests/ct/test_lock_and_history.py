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


def test_a_trigger_that_crashes_makes_ct_check_exit_non_zero_naming_it(tmp_path, monkeypatch,
                                                                      capsys):
    from unittest import mock

    from framework.cli import main
    from framework.ct import triggers

    crashed = mock.create_autospec(triggers.drift_trigger,
                                   side_effect=ValueError("statistics file is truncated"))
    monkeypatch.setitem(triggers.TRIGGERS, "drift", crashed)
    for name, value in {"MLOPS_PIPELINE__PIPELINE_ROOT": tmp_path / "pipeline_root",
                        "MLOPS_PIPELINE__SERVING_DIR": tmp_path / "serving",
                        "MLOPS_METADATA__SQLITE_PATH": tmp_path / "metadata.sqlite"}.items():
        monkeypatch.setenv(name, str(value))
    code = main(["ct", "check", "--pipeline", "taxi", "--env", "test"])
    out, err = capsys.readouterr()
    assert crashed.call_count == 1
    assert code == 11
    [line] = err.strip().splitlines()
    assert line == ("error: trigger drift: ValueError: statistics file is truncated (could not "
                    "be evaluated: fix it, or switch it off in settings)")
    assert "drift" in out and "error" in out  # the decision itself is still shown
    [record] = history.read(settings_for(tmp_path))[-1:]
    assert record["triggers"][[t["name"] for t in record["triggers"]].index("drift")]["error"]
