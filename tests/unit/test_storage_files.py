"""framework/storage on local folders (gs:// is in tests/storage, against an emulator)."""

from __future__ import annotations

from pathlib import Path

from framework.storage import files


def test_local_objects_are_written_whole_listed_and_deleted(tmp_path):
    uri = str(tmp_path / "state" / "registry.json")
    assert files.read_text(uri) is None
    files.write_text(uri, "{}")
    files.write_text(str(tmp_path / "state" / "sub" / "x.json"), "[]")
    assert files.read_text(uri) == "{}"
    assert files.list_names(str(tmp_path / "state")) == ["registry.json"]
    assert files.list_tree(str(tmp_path / "state")) == ["registry.json", "sub/x.json"]
    assert not list((tmp_path / "state").glob("*.tmp-*"))
    before = files.signature(uri)
    files.write_text(uri, '{"revision": 2}')
    assert files.signature(uri) != before
    files.delete(uri)
    files.delete(uri)  # deleting what is gone is not an error
    assert files.signature(uri) is None


def test_locations_join_as_their_kind_needs():
    assert files.join("gs://b/state", "ct", "ct.lock") == "gs://b/state/ct/ct.lock"
    assert files.split("gs://b/state/ct.lock") == ("b", "state/ct.lock")
    assert files.is_remote("gs://b") and not files.is_remote("/srv/state")


def test_run_logs_of_a_gs_pipeline_root_go_to_a_local_folder_not_one_named_gs(monkeypatch):
    from framework.runners.local import default_log_dir
    from framework.settings.loader import settings_from_dict

    def settings(root: str):
        data = {"base": {"pipeline": {"name": "taxi", "data_root": "d", "pipeline_root": root,
                                      "serving_dir": "s"}}}
        return settings_from_dict(data, "local", root=Path("/project"), environ={})

    monkeypatch.setenv("MLOPS_PROJECT_ROOT", "/project")
    assert default_log_dir(settings("root")) == "/project/root/logs"
    folder = default_log_dir(settings("gs://team/pipelines/taxi"))
    assert "gs:" not in folder and folder == "/project/.mlops/logs/taxi"
