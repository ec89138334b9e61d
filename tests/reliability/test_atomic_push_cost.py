"""The pusher's cost does not grow with the number of versions already pushed.

Recognising a model blessed again reads its recorded digest, not every earlier version:
at most one earlier model (the newest) is hashed, whatever the serving folder holds.
"""

import os

import pytest

VERSIONS = 40


def _model(folder, weights: bytes):
    (folder / "variables").mkdir(parents=True)
    (folder / "variables" / "variables.index").write_bytes(weights)
    (folder / "saved_model.pb").write_bytes(b"graph")
    return folder


@pytest.fixture
def serving_with_history(tmp_path):
    """A serving folder after VERSIONS pushes of different models, and the models."""
    from framework.components import atomic_pusher

    serving = tmp_path / "serving"
    models, versions = [], []
    for i in range(VERSIONS):
        models.append(_model(tmp_path / f"model-{i}", f"weights {i}".encode()))
        versions.append(atomic_pusher.push_model(str(models[-1]), str(serving)))
    assert len(set(versions)) == VERSIONS
    return serving, models, versions


@pytest.fixture
def hashed(monkeypatch):
    """The folders model_digest reads, in order."""
    from framework.components import atomic_pusher

    real, seen = atomic_pusher.model_digest, []

    def counting(path):
        seen.append(os.path.basename(path))
        return real(path)

    monkeypatch.setattr(atomic_pusher, "model_digest", counting)
    return seen


def test_a_new_model_reads_at_most_the_newest_earlier_version(serving_with_history, hashed,
                                                              tmp_path):
    from framework.components import atomic_pusher

    serving, _, versions = serving_with_history
    path = atomic_pusher.push_model(str(_model(tmp_path / "new", b"new")), str(serving))
    assert path not in versions
    earlier = [name for name in hashed if name.isdigit()]
    assert earlier == [os.path.basename(versions[-1])]  # the newest, and no other


def test_an_old_model_blessed_again_is_found_without_hashing_any_version(
        serving_with_history, hashed):
    from framework.components import atomic_pusher

    serving, models, versions = serving_with_history
    path = atomic_pusher.push_model(str(models[3]), str(serving))
    assert path == versions[3]  # its version is reused, nothing copied
    assert [name for name in hashed if name.isdigit()] == []
    assert len([p for p in serving.iterdir() if p.name.isdigit()]) == VERSIONS


def test_the_push_works_with_every_earlier_version_unreadable(serving_with_history, tmp_path,
                                                               monkeypatch):
    """Earlier versions' files are not opened at all (except the newest, hashed once)."""
    from framework.components import atomic_pusher

    serving, _, versions = serving_with_history
    newest = versions[-1]
    real_open = atomic_pusher.fileio.open

    def guarded(path, *args, **kwargs):
        path = str(path)
        version_file = path.startswith(str(serving) + os.sep) and \
            path[len(str(serving)) + 1:].split(os.sep)[0].isdigit()
        if version_file and not path.startswith(newest + os.sep):
            raise PermissionError(f"read an earlier version: {path}")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(atomic_pusher.fileio, "open", guarded)
    model = str(_model(tmp_path / "new", b"new weights"))
    path = atomic_pusher.push_model(model, str(serving))
    assert path not in versions
    assert atomic_pusher.push_model(model, str(serving)) == path  # found by its record


def test_a_deleted_version_is_not_reused(tmp_path):
    """A record whose version was removed since is stale: the model is pushed again."""
    import shutil

    from framework.components import atomic_pusher

    serving = str(tmp_path / "serving")
    model = str(_model(tmp_path / "model", b"weights"))
    first = atomic_pusher.push_model(model, serving)
    atomic_pusher.push_model(str(_model(tmp_path / "other", b"other")), serving)
    shutil.rmtree(first)
    again = atomic_pusher.push_model(model, serving)  # may get the freed number again
    assert os.path.exists(os.path.join(again, "saved_model.pb"))


def test_a_version_pushed_before_digests_were_recorded_is_still_recognised(tmp_path):
    """A serving folder from before the records: the newest version is compared."""
    from framework.components import atomic_pusher

    serving = tmp_path / "serving"
    serving.mkdir()
    model = _model(tmp_path / "model", b"weights")
    atomic_pusher.push_into(str(model), str(serving), "1000")  # no record written
    assert atomic_pusher.push_model(str(model), str(serving)) == str(serving / "1000")
    assert (serving / atomic_pusher.DIGESTS).is_dir()
    assert sorted(p.name for p in serving.iterdir() if p.name.isdigit()) == ["1000"]
