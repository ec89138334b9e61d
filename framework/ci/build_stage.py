"""The `build` stage: registry credentials, then the container helper's `run_build`.

`framework.ci.build.run_build(ctx, settings, *, push, ca_bundle, manifest_path)` builds
the image from docker/, tags it with the commit and the branch or tag, pushes it when
asked and writes the build manifest (image references) that `compile` reads.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

from framework.errors import UserError

BUILD_MODULE = "framework.ci.build"
REQUIRED_KEYS = ("image", "images", "commit", "version_tag")


def build_stage(ctx, settings, *, push: bool, ca_bundle: str | None, manifest_path: str) -> dict:
    from framework.ci.registry_auth import docker_auth

    if ca_bundle and not Path(ca_bundle).is_file():
        raise UserError(f"--ca-bundle {ca_bundle}: no such file")
    try:
        module = importlib.import_module(BUILD_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != BUILD_MODULE:
            raise
        raise UserError(f"no image build here ({BUILD_MODULE} is missing)") from None
    Path(manifest_path).parent.mkdir(parents=True, exist_ok=True)
    repository = settings.image.repository or ""
    if push:
        with docker_auth(repository):
            manifest = module.run_build(ctx, settings, push=True, ca_bundle=ca_bundle,
                                        manifest_path=manifest_path)
    else:
        manifest = module.run_build(ctx, settings, push=False, ca_bundle=ca_bundle,
                                    manifest_path=manifest_path)
    missing = [k for k in REQUIRED_KEYS if k not in manifest]
    if missing:
        raise UserError(f"build manifest lacks {', '.join(missing)}")
    return manifest


def read_manifest(path: Path) -> dict:
    """The build manifest `build` wrote; a clear error when build has not run."""
    try:
        manifest = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: no build manifest (run `mlops ci build` first)") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not a JSON build manifest ({exc.msg})") from None
    missing = [k for k in REQUIRED_KEYS if k not in manifest]
    if missing:
        raise UserError(f"{path}: build manifest lacks {', '.join(missing)}")
    return manifest


def manifest_for_commit(path: Path, commit: str) -> dict:
    """The build manifest, which must be this commit's: a stale one is a clear error."""
    manifest = read_manifest(path)
    if manifest["commit"] != commit:
        raise UserError(f"{path}: the build manifest is for commit {manifest['commit'][:12]}, "
                        f"this build is {commit[:12]} (run `mlops ci build` for this commit)")
    return manifest
