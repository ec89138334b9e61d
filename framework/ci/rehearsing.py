"""The `rehearse` stage: `mlops rehearse` for the routed environment, on the built image.

It runs after `build` and before `compile`, which pushes the image and stores the spec:
a pipeline that fails here has uploaded nothing. The image is the build manifest's, which
the build stage tagged on this machine's engine.
"""

from __future__ import annotations

from pathlib import Path


def rehearse_stage(ctx, settings, *, manifest_path: Path, root: Path,
                   ignore: tuple[str, ...] = ()) -> dict:
    from framework.ci.build import manifest_for_commit
    from framework.core.progress import format_summary
    from framework.production.release import resolve_release
    from framework.rehearsal.rehearse import raise_for_failure, rehearse
    from framework.runners import get_runner

    manifest = manifest_for_commit(manifest_path, ctx.commit)
    release = resolve_release(settings, manifest=manifest_path)
    runner = get_runner(settings.runner, settings, release=release, ignore=ignore)
    result = rehearse(runner, root=root)
    print(format_summary(result.run))
    raise_for_failure(result)
    print(f"rehearsal of {settings.pipeline.name} for {settings.runner} ({settings.env}) passed "
          f"in {manifest['image']}")
    return result.to_dict()
