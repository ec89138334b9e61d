"""A Pusher whose push is atomic: copy into a hidden temporary folder, then rename.

TFX's Pusher copies files straight into `<serving_dir>/<version>`; a crash half-way leaves a
partial model that a model server polling the folder may load. Here the copy goes to
`<serving_dir>/.tmp-<version>-<pid>` and is renamed into place only when complete, so the
serving folder holds whole models or nothing new. A failed push removes its temporary folder
and leaves the serving folder exactly as it was. (On gs:// a rename is a copy and delete,
which is not atomic; model servers there should watch for saved_model.pb, written last.)

A model blessed again (the same files) reuses its version. Each push records the model's
digest as `<serving_dir>/.model-digests/<sha256>` (holding the version), so recognising
one costs a lookup (and at most one hash of the newest version), however many versions
the folder holds.
Imports TFX at module level: only imported when a pipeline is built.
"""

from __future__ import annotations

import os
import time

from tfx import v1 as tfx
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils


class AtomicPusherExecutor(pusher_executor.Executor):
    """Pusher executor that renames a complete copy into place (imported by path on KFP)."""

    def Do(self, input_dict, output_dict, exec_properties):  # noqa: N802 (TFX API)
        model_push = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY]
        )
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        model_path = self.GetModelPath(input_dict)
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination
        )
        serving_path = push_model(model_path, destination.filesystem.base_directory)
        io_utils.copy_dir(model_path, model_push.uri)
        self._MarkPushed(model_push, pushed_destination=serving_path,
                         pushed_version=os.path.basename(serving_path))


def push_model(model_path: str, base: str) -> str:
    """The version folder under base that holds this model: where it was pushed before
    (an unchanged re-run re-blesses the same model: keep one version of it), else new."""
    fileio.makedirs(base)
    digest = model_digest(model_path)
    serving_path = already_pushed(model_path, base, digest)
    if serving_path is None:
        version = int(time.time())
        while fileio.exists(os.path.join(base, str(version))):
            version += 1
        serving_path = push_into(model_path, base, str(version))
    record_digest(base, digest, os.path.basename(serving_path))
    return serving_path


def model_digest(path: str) -> str:
    """sha256 over every file of a SavedModel folder (names and contents)."""
    import hashlib

    digest = hashlib.sha256()
    for root, _, files in sorted(fileio.walk(path)):
        for name in sorted(files):
            full = os.path.join(root, name)
            digest.update(os.path.relpath(full, path).encode() + b"\0")
            with fileio.open(full, "rb") as handle:
                digest.update(handle.read())
    return digest.hexdigest()


DIGESTS = ".model-digests"  # hidden: model servers and the registry skip non-numeric names


def _versions(base: str) -> list[str]:
    return [v.rstrip("/") for v in fileio.listdir(base) if v.rstrip("/").isdigit()]


def already_pushed(model_path: str, base: str, digest: str | None = None) -> str | None:
    """The version folder under base holding exactly this model, if any.

    Looked up by the digest recorded when a version was pushed; failing that, only the
    newest version is hashed (it may predate the records, or a crash may have come between
    its rename and its record). Never every version: the cost stays one lookup and at most
    one earlier model read, however many versions the folder holds.
    """
    wanted = digest or model_digest(model_path)
    recorded = os.path.join(base, DIGESTS, wanted)
    if fileio.exists(recorded):
        with fileio.open(recorded, "r") as handle:
            candidate = os.path.join(base, handle.read().strip())
        # A version deleted since (by hand, or a clean-up) leaves a stale record.
        if fileio.exists(os.path.join(candidate, "saved_model.pb")):
            return candidate
    versions = _versions(base)
    if not versions:
        return None
    newest = os.path.join(base, max(versions, key=int))
    return newest if model_digest(newest) == wanted else None


def record_digest(base: str, digest: str, version: str) -> None:
    """Remember which version holds the model with this digest (see already_pushed)."""
    folder = os.path.join(base, DIGESTS)
    fileio.makedirs(folder)
    with fileio.open(os.path.join(folder, digest), "w") as handle:
        handle.write(version)


def push_into(model_path: str, base: str, version: str) -> str:
    """Copy the SavedModel at model_path to base/version via a temporary folder and a rename."""
    final = os.path.join(base, version)
    temporary = os.path.join(base, f".tmp-{version}-{os.getpid()}")
    try:
        # saved_model.pb last: servers take it as the sign that a model is complete.
        io_utils.copy_dir(model_path, temporary, deny_regex_patterns=[r"saved_model\.pb"])
        io_utils.copy_file(
            os.path.join(model_path, "saved_model.pb"), os.path.join(temporary, "saved_model.pb")
        )
        fileio.rename(temporary, final)
    except BaseException:
        if fileio.exists(temporary):
            fileio.rmtree(temporary)
        raise
    return final


def AtomicPusher(**kwargs):  # noqa: N802 - reads like the component class it builds
    """tfx.components.Pusher with the atomic executor; node id stays 'Pusher'."""
    return tfx.components.Pusher(
        custom_executor_spec=executor_spec.ExecutorClassSpec(AtomicPusherExecutor), **kwargs
    )
