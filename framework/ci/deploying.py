"""The `deploy` stage: fetch the commit's compiled pipeline from the artifact store and
deploy it with the environment's settings; with run/wait, run it as an integration test.
"""

from __future__ import annotations

import json
from pathlib import Path

from framework.ci import artifacts
from framework.ci.compiling import RECORD
from framework.core.errors import UserError


def deploy_stage(ctx, settings, *, work_dir: Path, run: bool, wait: bool,
                 poll_seconds: float = 10.0) -> dict:
    from framework.production.release import resolve_release
    from framework.runners import get_runner

    where = artifacts.location(settings.ci.artifact_store, settings.pipeline.name, ctx.commit)
    record = json.loads(artifacts.get(where, RECORD, work_dir).read_text(encoding="utf-8"))
    if record.get("env") != settings.env or record.get("runner") != settings.runner:
        raise UserError(
            f"{where}: compiled for {record.get('runner')} ({record.get('env')}), deploying to "
            f"{settings.runner} ({settings.env}): run `mlops ci compile --env {settings.env}`")
    package = artifacts.get(where, record["file"], work_dir)
    manifest = artifacts.get(where, record["manifest"], work_dir)
    release = resolve_release(settings, manifest=manifest)
    runner = get_runner(settings.runner, settings, release=release, poll_seconds=poll_seconds)
    timeout = settings.ci.wait_timeout_minutes * 60 if wait else None
    outcome = runner.deploy(package=str(package), run=run, wait=wait, timeout=timeout)
    result = {
        "env": settings.env, "runner": settings.runner, "commit": ctx.commit,
        "version": outcome.version, "pipeline_id": outcome.pipeline_id,
        "version_id": outcome.version_id, "created": outcome.created,
        "run_id": outcome.run_id, "state": outcome.state, "links": outcome.links,
    }
    created = ", ".join(outcome.created) or "nothing new"
    result["summary"] = f"version {outcome.version} ({created})" + (
        f", run {outcome.run_id} {outcome.state or 'started'}" if outcome.run_id else "")
    (work_dir / "deploy.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result
