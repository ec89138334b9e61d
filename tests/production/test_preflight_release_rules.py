"""Pre-flight rules on what the release targets would serve: serving-image-tf, kserve-storage."""

from __future__ import annotations

import importlib.metadata

import pytest

from tests.production.test_preflight import _check, _rules

TF = ".".join(importlib.metadata.version("tensorflow").split(".")[:2])  # e.g. 2.16
PREBUILT = "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.{}:latest"
IMAGE = "MLOPS_RELEASE__VERTEX_ENDPOINT__SERVING_IMAGE"


def _other_minor() -> str:
    major, minor = TF.split(".")
    return f"{major}-{int(minor) - 1}"


def test_a_serving_image_of_another_tensorflow_minor_is_one_error_line():
    image = PREBUILT.format(_other_minor())
    [line] = _rules(_check("vertex", "staging", **{IMAGE: image}), "serving-image-tf")
    assert line.startswith(f"error: [serving-image-tf] release.vertex_endpoint.serving_image "
                           f"{image} serves TensorFlow {_other_minor().replace('-', '.')}, "
                           f"but the models are trained with TensorFlow {TF}: set it to "
                           f"{PREBUILT.format(TF.replace('.', '-'))}, or to null")
    assert "\n" not in line


@pytest.mark.parametrize("image", [None, PREBUILT.format(TF.replace(".", "-")),
                                   "europe-docker.pkg.dev/vertex-ai/prediction/tf2-gpu."
                                   f"{TF.replace('.', '-')}:latest",
                                   "europe-west4-docker.pkg.dev/acme/serving/taxi:1.0"])
def test_the_training_tensorflow_a_custom_image_or_null_pass(image):
    overrides = {IMAGE: image} if image else {}
    assert _rules(_check("kubeflow", "dev", **overrides), "serving-image-tf") == []


def test_a_kserve_storage_uri_on_this_machine_is_one_error_line():
    found = _check("kubeflow", "dev", MLOPS_RELEASE__TARGET="kserve",
                   MLOPS_RELEASE__KSERVE__STORAGE_URI="/srv/models/taxi/{version}")
    [line] = _rules(found, "kserve-storage")
    assert line.startswith("error: [kserve-storage] release.kserve.storage_uri gives "
                           "/srv/models/taxi/{version}, which KServe on a cluster cannot read")


@pytest.mark.parametrize("target, uri", [
    ("kserve", "{serving_dir}/{version}"),  # dev's serving_dir is gs://
    ("kserve", "pvc://models/taxi/{version}"),
    ("kserve", "s3://models/taxi/{version}"),
    ("vertex", "/srv/models/taxi/{version}"),  # no manifest is written for this target
])
def test_readable_kserve_storage_uris_and_other_targets_pass(target, uri):
    found = _check("kubeflow", "dev", MLOPS_RELEASE__TARGET=target,
                   MLOPS_RELEASE__KSERVE__STORAGE_URI=uri)
    assert _rules(found, "kserve-storage") == []


def test_the_new_rules_can_be_ignored_by_name():
    from framework.production.preflight import parse_ignore

    assert parse_ignore(["serving-image-tf,kserve-storage"]) == ["serving-image-tf",
                                                                 "kserve-storage"]
