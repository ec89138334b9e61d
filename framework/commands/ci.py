"""`mlops ci`: the CI stages (test, build, rehearse, compile, deploy) and the CI files' tooling.

Jenkinsfile and cloudbuild.yaml run nothing but these commands. Every stage first works
out the plan for the commit (ci.yaml: branch/tag -> environment, skipped paths) and, when
the plan leaves it out, says why and exits 0.
"""

from __future__ import annotations

import argparse

NAME = "ci"
HELP = ("CI/CD stages: test, build, rehearse, compile, deploy; plan, render, verify the CI "
        "files")


def _stage_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pipeline", "-p", default=None,
                        help="pipeline name (default: `pipeline` in ci.yaml)")
    parser.add_argument("--env", "-e", default="auto",
                        help="environment; auto (default) = $MLOPS_ENV, else the route of the "
                        "branch or tag in ci.yaml; none = deploy nothing. In Jenkins and Cloud "
                        "Build a value other than auto or none must be the routed environment")


def _push_args(parser: argparse.ArgumentParser, help_text: str) -> None:
    push = parser.add_mutually_exclusive_group()
    push.add_argument("--push", dest="push", action="store_true", default=None, help=help_text)
    push.add_argument("--no-push", dest="push", action="store_false")


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="ci_command", metavar="STAGE")
    sub.required = True
    _add_plan_parser(sub)
    _add_test_parser(sub)
    _add_build_parser(sub)
    _add_rehearse_parser(sub)
    _add_compile_parser(sub)
    _add_deploy_parser(sub)
    _add_render_parser(sub)
    sub.add_parser("verify", help="fail when Jenkinsfile or cloudbuild.yaml differ from render")


def _add_plan_parser(sub) -> None:
    p = sub.add_parser("plan", help="print the environment and the stages this commit runs, "
                       "and why")
    _stage_args(p)
    p.add_argument("--output", default=None, help="also write the plan as JSON to this file")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")


def _add_test_parser(sub) -> None:
    from framework.ci.stages import JUNIT_FILE

    p = sub.add_parser("test", help="ruff and pytest, with a JUnit XML report")
    _stage_args(p)
    p.add_argument("--junit", default=JUNIT_FILE, help=f"JUnit XML report (default: {JUNIT_FILE})")
    p.add_argument("-m", "--marker", default=None,
                   help="pytest marker expression (default: test.marker in ci.yaml)")
    p.add_argument("-k", "--keyword", default=None, help="pytest -k expression")
    p.add_argument("--lint", action="append", default=None, metavar="PATH",
                   help="run ruff on PATH (repeatable; default: test.lint in ci.yaml)")
    p.add_argument("--no-lint", action="store_true", help="skip ruff")
    p.add_argument("paths", nargs="*",
                   help="test files or folders (default: test.paths in ci.yaml)")


def _add_build_parser(sub) -> None:
    from framework.ci.stages import MANIFEST_FILE

    p = sub.add_parser("build",
                       help="build the pipeline image, tag it, push it, write the manifest")
    _stage_args(p)
    p.add_argument("--manifest", default=MANIFEST_FILE,
                   help=f"build manifest (default: {MANIFEST_FILE})")
    _push_args(p, "push the image now (default: in CI, when the commit deploys; the CI files "
               "leave the push to compile)")
    p.add_argument("--ca-bundle", default=None,
                   help="extra CA bundle for a TLS-inspecting proxy (default: $CI_CA_BUNDLE, "
                   "else image.ca_bundle in settings, else $PIP_CERT)")


def _add_rehearse_parser(sub) -> None:
    from framework.ci.stages import MANIFEST_FILE, REHEARSAL_DIR

    p = sub.add_parser("rehearse", help="run the compiled pipeline in the built image "
                       "(`mlops rehearse`) before anything is uploaded")
    _stage_args(p)
    p.add_argument("--manifest", default=MANIFEST_FILE,
                   help=f"build manifest from `mlops ci build` (default: {MANIFEST_FILE})")
    p.add_argument("--root", default=REHEARSAL_DIR,
                   help=f"local folder for the rehearsal (default: {REHEARSAL_DIR})")


def _add_compile_parser(sub) -> None:
    from framework.ci.stages import MANIFEST_FILE, OUT

    p = sub.add_parser("compile", help="push the built image, compile for the environment's "
                       "target and store the result and the build manifest under the commit")
    _stage_args(p)
    _push_args(p, "push the manifest's image first, unless the build pushed it (default: in "
               "CI, when the commit deploys)")
    p.add_argument("--manifest", default=MANIFEST_FILE,
                   help=f"build manifest (default: {MANIFEST_FILE})")
    p.add_argument("--output", default=OUT,
                   help=f"folder for the compiled pipeline (default: {OUT})")
    p.add_argument("--ignore", action="append", metavar="RULE[,RULE]", default=None,
                   help="let these pre-flight rules pass (added to preflight_ignore in ci.yaml)")


def _add_deploy_parser(sub) -> None:
    p = sub.add_parser("deploy", help="deploy the commit's compiled pipeline to its environment")
    _stage_args(p)
    p.add_argument("--run", action="store_true", default=None,
                   help="also start a run (default: ci.run_after_deploy in settings)")
    p.add_argument("--wait", action="store_true", default=None,
                   help="wait for that run to finish and fail when it fails")
    p.add_argument("--poll", type=float, default=10.0, metavar="S",
                   help="with --wait: seconds between state checks (default 10)")


def _add_render_parser(sub) -> None:
    p = sub.add_parser("render", help="write Jenkinsfile and cloudbuild.yaml from the stage list")
    p.add_argument("--triggers", action="store_true",
                   help="print the Cloud Build trigger commands for the routes instead")


def run(args) -> int:
    handler = {
        "plan": _plan, "test": _test, "build": _build, "rehearse": _rehearse,
        "compile": _compile,
        "deploy": _deploy, "render": _render, "verify": _verify,
    }[args.ci_command]
    return handler(args)


def _prepare(args):
    """(root, ctx, config, pipeline, plan) for a stage or `plan`."""
    import os

    from framework.ci.context import ci_context
    from framework.ci.routing import changed_paths, load_config, make_plan
    from framework.pipeline.discovery import project_root

    root = project_root()
    config = load_config(root)
    ctx = ci_context(root=root)
    pipeline = args.pipeline or config.pipeline
    changed = changed_paths(root, ctx.commit, ctx.base_commit)
    plan = make_plan(config, ctx, pipeline=pipeline, requested_env=args.env, changed=changed,
                     environ=os.environ)
    return root, ctx, config, pipeline, plan


def _skipped(plan, stage: str) -> bool:
    if plan.runs(stage):
        return False
    print(f"skip {stage}: {plan.reasons[stage]}")
    return True


def _plan(args) -> int:
    import json
    from pathlib import Path

    root, ctx, _config, _pipeline, plan = _prepare(args)
    data = {"context": ctx.to_dict(), **plan.to_dict()}
    if args.output:
        out = Path(args.output)
        out = out if out.is_absolute() else root / out
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=2) + "\n")
    print(json.dumps(data, indent=2) if args.json else plan.describe(ctx))
    return 0


def _test(args) -> int:
    from framework.ci.testing import run_tests
    from framework.core.errors import UserError

    root, _ctx, config, _pipeline, plan = _prepare(args)
    if _skipped(plan, "test"):
        return 0
    if plan.docs_only and not args.paths:
        from framework.ci.routing import DOCS_TESTS

        print(f"test stage: {plan.reasons['test']}")
        args.paths, args.marker, args.no_lint = [DOCS_TESTS], "", True
    result = run_tests(
        root, junit=args.junit, paths=args.paths or config.test.paths,
        marker=args.marker if args.marker is not None else config.test.marker,
        keyword=args.keyword,
        lint=[] if args.no_lint else (args.lint or config.test.lint),
    )
    failed = [name for name in ("ruff", "pytest") if result[name] not in (None, 0)]
    if not args.no_lint:
        # The CI files are part of static analysis: a hand edit fails the build.
        from framework.ci.render import drift

        if drift(root, config):
            print("Jenkinsfile / cloudbuild.yaml differ from `mlops ci render` "
                  "(see `mlops ci verify`)")
            failed.append("mlops ci verify")
    if failed:
        raise UserError(f"test stage failed: {' and '.join(failed)} (report: {result['junit']})")
    print(f"test stage passed (report: {result['junit']})")
    return 0


def _settings_for(pipeline: str, plan):
    from framework.settings import load_settings

    return load_settings(pipeline, plan.env or "local")


def _build(args) -> int:
    import os

    from framework.ci.build import build_stage

    root, ctx, _config, pipeline, plan = _prepare(args)
    if _skipped(plan, "build"):
        return 0
    settings = _settings_for(pipeline, plan)
    push = plan.push if args.push is None else args.push
    # The same order as image builds elsewhere, with the CI-wide variable first.
    ca_bundle = (args.ca_bundle or os.environ.get("CI_CA_BUNDLE")
                 or getattr(settings.image, "ca_bundle", None) or os.environ.get("PIP_CERT"))
    manifest = build_stage(ctx, settings, push=push, ca_bundle=ca_bundle or None,
                           manifest_path=str(_abs(root, args.manifest)))
    print(f"image {manifest['image']} ({'pushed' if push else 'not pushed'}); "
          f"manifest {args.manifest}")
    return 0


def _rehearse(args) -> int:
    from framework.ci.rehearsing import rehearse_stage
    from framework.production.preflight import parse_ignore

    root, ctx, config, pipeline, plan = _prepare(args)
    if _skipped(plan, "rehearse"):
        return 0
    settings = _settings_for(pipeline, plan)
    ignore = parse_ignore(config.preflight_ignore.get(plan.env, []))
    rehearse_stage(ctx, settings, manifest_path=_abs(root, args.manifest),
                   root=_abs(root, args.root), ignore=tuple(ignore))
    return 0


def _compile(args) -> int:
    from framework.ci.compiling import compile_stage
    from framework.production.preflight import parse_ignore

    root, ctx, config, pipeline, plan = _prepare(args)
    if _skipped(plan, "compile"):
        return 0
    settings = _settings_for(pipeline, plan)
    ignore = parse_ignore([*config.preflight_ignore.get(plan.env, []), *(args.ignore or [])])
    record = compile_stage(ctx, settings, manifest_path=_abs(root, args.manifest),
                           output_dir=_abs(root, args.output), ignore=tuple(ignore),
                           push=plan.push if args.push is None else args.push)
    print(f"compiled {record['file']} for {record['runner']} ({record['env']}); "
          f"stored in {record['store']}")
    return 0


def _deploy(args) -> int:
    from framework.ci.deploying import deploy_stage
    from framework.ci.stages import OUT

    root, ctx, _config, pipeline, plan = _prepare(args)
    if _skipped(plan, "deploy"):
        return 0
    settings = _settings_for(pipeline, plan)
    run = settings.ci.run_after_deploy if args.run is None else args.run
    wait = run if args.wait is None else args.wait
    result = deploy_stage(ctx, settings, work_dir=_abs(root, OUT) / "deploy", run=run, wait=wait,
                          poll_seconds=args.poll)
    print(f"deployed {pipeline} {ctx.version_tag} to {plan.env}: {result.get('summary', result)}")
    return 0


def _abs(root, path):
    from pathlib import Path

    path = Path(path)
    return path if path.is_absolute() else root / path


def _render(args) -> int:
    from framework.ci.render import cloudbuild_trigger_commands, write
    from framework.ci.routing import load_config
    from framework.pipeline.discovery import project_root

    root = project_root()
    config = load_config(root)
    if args.triggers:
        print("\n\n".join(cloudbuild_trigger_commands(config, config.pipeline)))
        return 0
    for path in write(root, config):
        print(f"wrote {path.relative_to(root)}")
    return 0


def _verify(args) -> int:
    import sys

    from framework.ci.render import CiFileDriftError, drift
    from framework.ci.routing import load_config
    from framework.pipeline.discovery import project_root

    root = project_root()
    diffs = drift(root, load_config(root))
    if diffs:
        sys.stderr.write("".join(diffs))
        raise CiFileDriftError(
            f"{len(diffs)} CI file(s) differ from the stage list: run `mlops ci render` and "
            "commit the result (never edit Jenkinsfile or cloudbuild.yaml by hand)")
    print("Jenkinsfile and cloudbuild.yaml match the stage list")
    return 0
