"""The Pusher writes atomically: a failed push leaves the serving folder exactly as it was."""

import os

import pytest

from tests.doubles import signature_of


@pytest.fixture
def model_dir(tmp_path):
    model = tmp_path / "model"
    (model / "variables").mkdir(parents=True)
    (model / "variables" / "variables.data-00000-of-00001").write_bytes(b"w" * 4096)
    (model / "variables" / "variables.index").write_bytes(b"index")
    (model / "saved_model.pb").write_bytes(b"graph")
    return model


def _snapshot(folder):
    return sorted((str(p.relative_to(folder)), p.read_bytes() if p.is_file() else None)
                  for p in folder.rglob("*"))


def test_push_lands_whole_under_the_version(model_dir, tmp_path):
    from framework.components.atomic_pusher import push_into

    serving = tmp_path / "serving"
    serving.mkdir()
    final = push_into(str(model_dir), str(serving), "2000")
    assert final == str(serving / "2000")
    assert _snapshot(serving / "2000") == _snapshot(model_dir)
    assert [p.name for p in serving.iterdir()] == ["2000"]


@pytest.mark.parametrize("failing", ["copy_file", "rename"])
def test_failed_push_leaves_serving_folder_as_it_was(model_dir, tmp_path, monkeypatch, failing):
    from framework.components import atomic_pusher

    serving = tmp_path / "serving"
    (serving / "1000").mkdir(parents=True)
    (serving / "1000" / "saved_model.pb").write_bytes(b"served")
    before = _snapshot(serving)

    target = atomic_pusher.io_utils if failing == "copy_file" else atomic_pusher.fileio

    @signature_of(getattr(target, failing))  # called as the pusher calls the real one
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(target, failing, broken)
    with pytest.raises(OSError, match="disk full"):
        atomic_pusher.push_into(str(model_dir), str(serving), "2000")
    assert _snapshot(serving) == before  # no partial version, no temporary folder left


def test_unchanged_model_is_recognised_as_already_pushed(model_dir, tmp_path):
    from framework.components.atomic_pusher import already_pushed, push_into

    serving = tmp_path / "serving"
    serving.mkdir()
    assert already_pushed(str(model_dir), str(serving)) is None
    push_into(str(model_dir), str(serving), "2000")
    assert already_pushed(str(model_dir), str(serving)) == os.path.join(str(serving), "2000")
    (model_dir / "variables" / "variables.index").write_bytes(b"retrained")
    assert already_pushed(str(model_dir), str(serving)) is None
