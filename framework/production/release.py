"""Which image and version tag a compile or deploy is for.

Precedence: a build manifest (written by `mlops ci build`), then --image / --tag on the
command line, then `image.repository` and `image.tag` from settings.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from framework.core.errors import UserError
from framework.settings.schema import SAFE_IMAGE, SAFE_TAG


@dataclass(frozen=True)
class Release:
    repository: Optional[str]
    tag: Optional[str]
    # The pipeline version name on Kubeflow and the label on Vertex: release tag or commit.
    version: Optional[str]
    commit: Optional[str] = None
    source: str = "settings"

    @property
    def image(self) -> Optional[str]:
        if not self.repository:
            return None
        return f"{self.repository}:{self.tag}" if self.tag else self.repository


def split_image(reference: str) -> tuple[str, Optional[str]]:
    """'host:5000/a/b:tag' -> ('host:5000/a/b', 'tag'); a digest stays in the repository."""
    if "@" in reference:
        return reference, None
    name, sep, tag = reference.rpartition(":")
    if sep and "/" not in tag:
        return name, tag
    return reference, None


def _check(value: str, pattern: str, what: str, where: str) -> str:
    if not re.fullmatch(pattern, value):
        raise UserError(f"{where}: {what} {value!r} is not a valid image {what}")
    return value


def read_manifest(path: str | Path) -> dict:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: build manifest not found (written by `mlops ci build`)") from None
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{path}: not a JSON build manifest ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("image"), str):
        raise UserError(f"{path}: a build manifest needs an \"image\" key with the full reference")
    return data


def resolve_release(settings, *, image: str | None = None, tag: str | None = None,
                    manifest: str | Path | None = None) -> Release:
    """The image reference and version tag, from the manifest, the options or settings."""
    if manifest is not None:
        data = read_manifest(manifest)
        repository, image_tag = split_image(_check(data["image"], SAFE_IMAGE, "reference",
                                                   str(manifest)))
        commit = data.get("commit") if isinstance(data.get("commit"), str) else None
        # "tag" (or "version_tag", as `mlops ci build` writes it): a release tag, when the
        # build was for one; otherwise the image's own tag, else the commit.
        version = next((data[k] for k in ("tag", "version_tag") if isinstance(data.get(k), str)
                        and data[k]), None)
        version = version or image_tag or commit
        if version:
            _check(version, SAFE_TAG, "tag", str(manifest))
        return Release(repository, image_tag, version, commit, source=str(manifest))
    if image is not None:
        repository, image_tag = split_image(_check(image, SAFE_IMAGE, "reference", "--image"))
        image_tag = tag or image_tag
        if image_tag:
            _check(image_tag, SAFE_TAG, "tag", "--tag")
        return Release(repository, image_tag, image_tag, source="--image")
    if tag is not None:
        _check(tag, SAFE_TAG, "tag", "--tag")
        return Release(settings.image.repository, tag, tag, source="--tag")
    return Release(settings.image.repository, settings.image.tag, settings.image.tag)


def add_release_arguments(parser) -> None:
    group = parser.add_argument_group("image and version (default: image.* in settings)")
    group.add_argument("--manifest", metavar="FILE", default=None,
                       help="build manifest JSON from `mlops ci build` (keys: image, commit, tag)")
    group.add_argument("--image", default=None, help="full image reference, e.g. REPO:TAG")
    group.add_argument("--tag", default=None,
                       help="image tag and version name (a commit SHA or release tag)")


def release_from_args(settings, args) -> Release:
    return resolve_release(settings, image=getattr(args, "image", None),
                           tag=getattr(args, "tag", None), manifest=getattr(args, "manifest", None))
