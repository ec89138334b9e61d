"""The dashboard's integration workspace: the session's taxi run, a drifted span, and the CT
run it fires (a second real run), plus a release with a canary and serving statistics."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import mlops
from tests.ct.helpers import generator


@dataclass
class UiWorkspace:
    root: Path
    env: dict
    first_run: str
    ct_run: str
    # Every run in the store, newest first: the session's taxi run (and any run other tests
    # added to its store before it was copied), then the CT run.
    runs: list


    def settings(self):
        from framework.settings import load_settings

        return load_settings("taxi", "test", environ=self.env)


def run_ids(sqlite_path: Path) -> list[str]:
    """The pipeline runs in an ML-Metadata store, oldest first (TFX names each run's
    `pipeline_run` context by its run id)."""
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(sqlite_path)
    store = metadata_store.MetadataStore(config)
    return [c.name for c in sorted(store.get_contexts_by_type("pipeline_run"),
                                   key=lambda c: c.create_time_since_epoch)]


@pytest.fixture(scope="session")
def ui_workspace(taxi_run, tmp_path_factory) -> UiWorkspace:
    from framework.ct import EXIT_FIRED, history
    from framework.release.registry import Registry, stats_path_for
    from framework.release.stats import ServingStats

    root = tmp_path_factory.mktemp("ui")
    shutil.copy(taxi_run.workdir / "metadata.sqlite", root / "metadata.sqlite")
    earlier_runs = run_ids(root / "metadata.sqlite")
    shutil.copytree(taxi_run.workdir / "serving", root / "serving")
    env = {**taxi_run.env,
           "MLOPS_METADATA__SQLITE_PATH": str(root / "metadata.sqlite"),
           "MLOPS_PIPELINE__PIPELINE_ROOT": str(root / "pipeline_root"),
           "MLOPS_PIPELINE__SERVING_DIR": str(root / "serving"),
           "MLOPS_PIPELINE__DATA_ROOT": str(root / "spans"),
           "MLOPS_PIPELINE__INPUT_PATTERN": "span-{SPAN}/*.csv"}
    generator().generate_span(root / "spans", 2500, seed=12, span=1, shifts={"trip_miles": "+8"})
    fired = mlops("ct", "run", env=env)
    assert fired.returncode == EXIT_FIRED, fired.output[-3000:]
    quiet = mlops("ct", "check", env=env)  # nothing new: a decision that did not fire
    assert quiet.returncode == 0, quiet.output[-3000:]
    workspace = UiWorkspace(root, env, taxi_run.first.result["run_id"], "", [])
    settings = workspace.settings()
    workspace.ct_run = next(r["run"]["run_id"] for r in history.read(settings)
                            if r.get("action") == "run")
    workspace.runs = [workspace.ct_run, *reversed(earlier_runs)]
    versions = sorted(p.name for p in (root / "serving").iterdir() if p.name.isdigit())
    assert len(versions) == 2, versions
    for args in (("promote", versions[0], "--reason", "first model"),
                 ("canary", versions[1], "--percent", "25", "--reason", "retrained on span 1")):
        done = mlops("release", *args, env=env)
        assert done.returncode == 0, done.output[-2000:]
    stats = ServingStats(stats_path_for(Registry.from_settings(settings).state_path))
    for i in range(300):  # what `mlops serve` writes while it answers requests
        stats.record(versions[0], i % 150 == 0, 5.0 + i % 7)
    for i in range(80):
        stats.record(versions[1], i % 20 == 0, 6.0 + i % 9)
    stats.write()
    return workspace
