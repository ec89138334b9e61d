"""`mlops run` hands the runner the settings its flags ask for (the runner itself is faked).

That a real `--no-cache` run caches nothing (its result's cached list is empty) is checked
by tests/integration/test_speedups_same_output.py, which runs taxi twice anyway.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import framework.runners
from framework.runners.base import RunResult
from framework.runners.local import LocalRunner
from tests.doubles import shaped_like, signature_of

ROOT = Path(__file__).resolve().parents[2]


@shaped_like(LocalRunner)
class RecordingRunner:
    """Keeps the settings it was built with; runs nothing."""

    built: list = []

    def __init__(self, settings, **options):
        RecordingRunner.built.append(settings)

    def run(self, progress=None):
        return RunResult("taxi", "run-1", "local", succeeded=True)


@pytest.fixture
def run_command(monkeypatch, capsys):
    from framework.cli import main

    for name in [n for n in os.environ if n.startswith("MLOPS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MLOPS_PROJECT_ROOT", str(ROOT))
    RecordingRunner.built = []

    @signature_of(framework.runners.get_runner)
    def get_runner(name, settings, **options):
        return RecordingRunner(settings, **options)

    monkeypatch.setattr(framework.runners, "get_runner", get_runner)

    def call(*args: str):
        assert main(["run", "--pipeline", "taxi", *args]) == 0, capsys.readouterr()
        return RecordingRunner.built[-1]

    return call


def test_no_cache_flag_builds_the_pipeline_with_caching_off(run_command):
    from framework.pipeline.discovery import load_factory

    cached = run_command()
    uncached = run_command("--no-cache")
    assert cached.enable_cache is True and uncached.enable_cache is False
    assert load_factory("taxi")(uncached).enable_cache is False
