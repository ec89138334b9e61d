"""The `compile` stage: compile for the environment's target with the build's image, then
store the compiled pipeline, the build manifest and a record of both under the commit.

The image comes only from the build manifest (`mlops ci build` wrote it), never from an
edited file. The record (compiled.json) tells `deploy` which files to fetch.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from framework.ci import artifacts

RECORD = "compiled.json"
MANIFEST = "build-manifest.json"


def compile_stage(ctx, settings, *, manifest_path: Path, output_dir: Path,
                  ignore: tuple[str, ...] = (), push: bool = False) -> dict:
    """Push the built image (when `push`, unless the build pushed it), compile with it, store
    the files under the commit.

    The push happens here, not in `build`, so that nothing leaves the CI machine before the
    rehearsal stage has run the pipeline in that image.
    """
    from framework.ci.build import manifest_for_commit, push_built
    from framework.production.release import resolve_release
    from framework.runners import get_runner

    manifest = manifest_for_commit(manifest_path, ctx.commit)
    if push and not manifest.get("pushed"):
        push_built(settings, manifest_path)
    release = resolve_release(settings, manifest=manifest_path)
    runner = get_runner(settings.runner, settings, release=release, ignore=ignore)
    output_dir.mkdir(parents=True, exist_ok=True)
    compiled = runner.compile_checked(output_dir)
    stored_manifest = output_dir / MANIFEST
    if Path(manifest_path).resolve() != stored_manifest.resolve():
        shutil.copyfile(manifest_path, stored_manifest)
    where = artifacts.location(settings.ci.artifact_store, settings.pipeline.name, ctx.commit)
    record = {
        "pipeline": settings.pipeline.name, "env": settings.env, "runner": settings.runner,
        "file": compiled.path.name, "manifest": MANIFEST, "image": manifest["image"],
        "version": release.version, "commit": ctx.commit, "version_tag": ctx.version_tag,
        "build_id": ctx.build_id, "ci_system": ctx.system, "store": where,
    }
    record_path = output_dir / RECORD
    record_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    artifacts.put([compiled.path, stored_manifest, record_path], where)
    return record
