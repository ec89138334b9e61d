"""Which image a rehearsal runs (framework/rehearsal/rehearse.py `ensure_image`): the one the
user names wins over an older image under the spec's reference; without one, the
reference as it is, else the local build tagged so. Against doubles of docker-py's image
collection and image, held to their real signatures."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from docker.models.images import Image, ImageCollection

from framework.rehearsal.checks import RehearsalCheckError
from framework.rehearsal.rehearse import ensure_image
from tests.doubles import shaped_like

SPEC = "europe-west4-docker.pkg.dev/p/mlops/taxi:v1"


@shaped_like(Image)
class FakeImage:
    def __init__(self, attrs=None, client=None, collection=None):
        self.attrs, self.collection = attrs, collection

    @property
    def id(self):
        return self.attrs["Id"]

    @property
    def tags(self):
        return self.attrs["RepoTags"]

    def tag(self, repository, tag=None, **kwargs):
        ref = f"{repository}:{tag}"
        for other in self.collection.images:  # as on an engine, a tag names one image
            if ref in other.tags:
                other.tags.remove(ref)
        self.attrs["RepoTags"].append(ref)
        return True


@shaped_like(ImageCollection)
class FakeImages:
    def __init__(self, client=None):
        self.images: list[FakeImage] = []

    def list(self, name=None, all=False, filters=None):
        return self.images

    def get(self, name):
        return next(i for i in self.images if name in i.tags)


def engine(**images: list[str]):
    """A client whose engine holds one image per keyword: id -> its tags."""
    collection = FakeImages()
    collection.images = [FakeImage({"Id": i, "RepoTags": list(tags)}, collection=collection)
                         for i, tags in images.items()]
    return SimpleNamespace(images=collection), collection


def runs(collection) -> str:
    """The id of the image the spec's reference now names."""
    [image] = [i for i in collection.images if SPEC in i.tags]
    return image.id


def test_a_named_image_replaces_an_older_one_under_the_spec_reference():
    client, images = engine(old=[SPEC], new=["localhost/taxi:pytest"])
    said = []
    ensure_image(client, SPEC, "localhost/taxi:pytest", said.append)
    assert runs(images) == "new"
    assert said == [f"image: localhost/taxi:pytest tagged as {SPEC} (the reference the spec "
                    "names)"]


def test_a_named_image_already_under_the_reference_is_left_as_it_is():
    client, images = engine(new=["localhost/taxi:pytest", SPEC])
    said = []
    ensure_image(client, SPEC, "localhost/taxi:pytest", said.append)
    assert runs(images) == "new" and said == []


def test_without_a_named_image_the_reference_runs_as_it_is():
    client, images = engine(pulled=[SPEC], local=["taxi:local"])
    ensure_image(client, SPEC, None, print, fallback="taxi:local")
    assert runs(images) == "pulled"


def test_without_a_named_image_the_local_build_stands_in_when_the_reference_is_missing():
    client, images = engine(local=["taxi:local"])
    ensure_image(client, SPEC, None, lambda line: None, fallback="taxi:local")
    assert runs(images) == "local"


def test_a_named_image_that_is_not_on_the_engine_is_an_error_even_with_the_reference_there():
    client, images = engine(old=[SPEC])
    with pytest.raises(RehearsalCheckError, match=r"^localhost/gone:1 \(--local-image\) is not "
                       r"on the engine: build the pipeline image first"):
        ensure_image(client, SPEC, "localhost/gone:1", print)
    assert runs(images) == "old"


def test_nothing_to_run_names_both_images():
    client, _ = engine(other=["x:1"])
    with pytest.raises(RehearsalCheckError, match=rf"^neither {SPEC} nor taxi:local is on the "
                       "engine"):
        ensure_image(client, SPEC, None, print, fallback="taxi:local")
