"""`mlops compile` (and deploy) with no image tag: one line that says a tag is needed and how
to give one, before anything is built; not a Dataflow finding that follows from it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.production.conftest import ROOT, clean_environ


def _mlops(*args):
    return subprocess.run([sys.executable, "-m", "framework", *args], capture_output=True,
                          text=True, cwd=ROOT, env=clean_environ(), timeout=120)


@pytest.mark.parametrize("env, target", [("dev", "kubeflow"), ("staging", "vertex"),
                                         ("prod", "vertex")])
def test_compile_without_a_tag_says_how_to_give_one(env, target):
    out = _mlops("compile", "--env", env)
    assert out.returncode == 2, out.stderr
    assert out.stdout == ""
    [line] = out.stderr.splitlines()
    assert line.startswith(f"error: taxi on {target} ('{env}') needs an image tag")
    for way in ("--tag TAG", "--manifest FILE", "image.tag"):
        assert way in line
    assert "Dataflow" not in line and "--ignore" not in line


def _runner(tag=None, ignore=()):
    from framework.production.release import resolve_release
    from framework.runners import get_runner
    from framework.settings import load_settings

    settings = load_settings("taxi", "dev", environ=clean_environ())
    release = resolve_release(settings, tag=tag) if tag else resolve_release(settings)
    return get_runner("kubeflow", settings, release=release, ignore=ignore,
                      printer=lambda *_: None)


def test_deploy_of_a_package_without_a_tag_stops_the_same_way(tmp_path):
    from framework.core.errors import UserError

    with pytest.raises(UserError, match=r"needs an image tag.*--tag TAG"):
        _runner().package_or_compile(str(tmp_path / "taxi-kubeflow.yaml"), None)


def test_a_tag_or_ignoring_image_tag_goes_on_to_the_preflight_check():
    _runner(tag="3f2c1ab").require_tag()
    _runner(ignore=("image-tag",)).require_tag()  # ci.yaml preflight_ignore may allow it


def test_nothing_is_built_before_the_tag_is_there(monkeypatch):
    from framework.core.errors import UserError
    from framework.production import compile as production_compile

    def never(settings):
        raise AssertionError("the pipeline was built before the tag was checked")

    monkeypatch.setattr(production_compile, "build_pipeline", never)
    with pytest.raises(UserError, match="needs an image tag"):
        _runner().compile_checked(os.devnull)
