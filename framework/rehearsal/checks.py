"""The rehearsal's own pre-flight: what would stop it, found before any container starts.

- a Docker API answers (podman's or Docker's);
- every image the spec names exists on the engine under that exact reference (kfp.local
  would otherwise try to pull it);
- every path a task is given is reachable: under the local root that kfp.local mounts into
  each task, or inside the image; a remote URI left in the spec is not.

Paths inside the image are looked up in a container that is created and never started.
"""

from __future__ import annotations

import os
from pathlib import PurePosixPath

from framework.container.image import paths_missing
from framework.core.errors import UserError


class RehearsalCheckError(UserError):
    """The rehearsal cannot start: the message names the cause."""


def spec_images(spec: dict) -> list[str]:
    executors = spec.get("deploymentSpec", {}).get("executors", {}).values()
    return sorted({e["container"]["image"] for e in executors if "container" in e})


def image_present(client, ref: str) -> bool:
    """True when `ref` is one of the engine's image tags, as kfp.local looks for it."""
    ref = ref if ":" in ref.rsplit("/", 1)[-1] else f"{ref}:latest"
    return any(ref in image.tags for image in client.images.list())


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def check_reachable(referenced: list[tuple[str, str]], *, root: str, workdir: str, client,
                    image: str) -> None:
    """Each (task, path) must be under `root` or inside `image`; else one line for the first.

    A missing path under the image's workdir means the image lacks the pipeline's own code
    (module files, the curated schema), which gets a message of its own.
    """
    remote = [(task, p) for task, p in referenced if "://" in p]
    if remote:
        task, path = remote[0]
        more = f" ({len(remote) - 1} more like it)" if len(remote) > 1 else ""
        raise RehearsalCheckError(
            f"the spec gives {task} {path}, which the rehearsal cannot reach and does not "
            "replace (it replaces the settings' pipeline root, data root and serving folder): "
            f"rehearse the spec compiled from these settings, not another --package{more}")
    local = [(task, p) for task, p in referenced if not _under(p, root)]
    missing = set(paths_missing(client, image, sorted({p for _, p in local})))
    workdir = str(PurePosixPath(workdir))
    for task, path in sorted(local, key=lambda tp: not _under(tp[1], workdir)):
        if path not in missing:
            continue
        if _under(path, workdir):
            raise RehearsalCheckError(
                f"image {image} lacks {path}, which {task} loads: the image does not hold "
                "this pipeline's code (rebuild it from this checkout: mlops image build)")
        raise RehearsalCheckError(
            f"the spec gives {task} {path}, which is neither under the rehearsal root "
            f"{root} (mounted into every task) nor inside the image {image}")


def engine_environment(host: str | None) -> None:
    """kfp.local's Docker runner connects with docker.from_env(): point it where we checked."""
    if host:
        os.environ["DOCKER_HOST"] = host
