"""The `build` stage: build docker/, tag, push, write the manifest; and reading it back.

`build_stage` is what `mlops ci build` runs: registry credentials, then `run_build`.
`compile` and `rehearse` read the manifest through `manifest_for_commit`.

Tags: the full commit SHA (what `compile` pins the pipeline to), the version tag (the git
tag, else the short SHA) and the branch, each made valid as an image tag.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from framework.core.errors import UserError

REQUIRED_KEYS = ("image", "images", "commit", "version_tag")


def image_tags(ctx) -> list[str]:
    """Tags for this commit: commit SHA, version tag, and the branch or git tag, deduplicated."""
    from framework.container.image import valid_tag

    names = [ctx.commit, getattr(ctx, "version_tag", None), ctx.tag or ctx.branch]
    tags: list[str] = []
    for name in names:
        if name and valid_tag(name) not in tags:
            tags.append(valid_tag(name))
    return tags


def run_build(ctx, settings, *, push: bool, ca_bundle: str | None, manifest_path: str) -> dict:
    """Build the pipeline image for commit `ctx.commit`, push it if asked; the manifest."""
    from framework.container.client import build_ca_bundle, docker_client
    from framework.container.image import BuildProgress, build_image
    from framework.pipeline.discovery import project_root

    repository = settings.image.repository
    if not repository:
        raise UserError(f"{settings.source}: key 'image.repository' is not set for "
                        f"environment '{settings.env}'")
    refs = [f"{repository}:{tag}" for tag in image_tags(ctx)]

    def say(line: str) -> None:
        print(line, flush=True)

    client = docker_client(settings)
    say(f"build: {refs[0]} from docker/ (base {settings.image.base_image})")
    built = build_image(
        client, project_root(), refs, base_image=settings.image.base_image,
        ca_bundle=build_ca_bundle(settings, ca_bundle),
        labels={"org.opencontainers.image.revision": ctx.commit,
                "org.opencontainers.image.version": str(getattr(ctx, "version_tag", "") or "")},
        on_line=BuildProgress(say, prefix="build: "),
    )
    say(f"build: {built.image_id[:19]} in {built.seconds:.1f}s "
        f"({built.cached_steps}/{built.steps} steps cached), tagged {', '.join(refs)}")
    if push:
        push_refs(client, refs, say)
    manifest = {
        "image": refs[0],
        "images": refs,
        "commit": ctx.commit,
        "version_tag": getattr(ctx, "version_tag", None),
        "built_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "image_id": built.image_id,
        "base_image": settings.image.base_image,
        "pushed": bool(push),
        "build_seconds": round(built.seconds, 1),
    }
    path = Path(manifest_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def push_refs(client, refs: list[str], say) -> None:
    """Push every reference of the built image, with the registry's progress lines."""
    from framework.container.image import push_image

    for ref in refs:
        say(f"push: {ref}")
        push_image(client, ref, on_line=lambda line: say(f"push:   {line}"))


def push_built(settings, manifest_path: Path) -> dict:
    """Push the image a build manifest names (every tag), and record that it was pushed."""
    from framework.ci.registry_auth import docker_auth
    from framework.container.client import docker_client

    manifest = json.loads(Path(manifest_path).read_text(encoding="utf-8"))
    client = docker_client(settings)
    with docker_auth(settings.image.repository or ""):
        push_refs(client, manifest["images"], lambda line: print(line, flush=True))
    manifest["pushed"] = True
    Path(manifest_path).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def build_stage(ctx, settings, *, push: bool, ca_bundle: str | None, manifest_path: str) -> dict:
    """The stage: check the CA bundle, build (and push, with registry credentials) the image."""
    from framework.ci.registry_auth import docker_auth

    if ca_bundle and not Path(ca_bundle).is_file():
        raise UserError(f"--ca-bundle {ca_bundle}: no such file")
    Path(manifest_path).parent.mkdir(parents=True, exist_ok=True)
    repository = settings.image.repository or ""
    if push:
        with docker_auth(repository):
            manifest = run_build(ctx, settings, push=True, ca_bundle=ca_bundle,
                                 manifest_path=manifest_path)
    else:
        manifest = run_build(ctx, settings, push=False, ca_bundle=ca_bundle,
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
