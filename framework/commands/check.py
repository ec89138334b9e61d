"""`mlops check`: the pre-flight check for a production target, one line per finding."""

from framework.commands._common import add_pipeline_env

NAME = "check"
HELP = "pre-flight check: what would fail or run differently on Kubeflow or Vertex AI"


def add_target_arguments(parser) -> None:
    from framework.production.release import add_release_arguments

    add_pipeline_env(parser)
    parser.add_argument("--target", "-t", choices=("kubeflow", "vertex"), default=None,
                        help="production target (default: the settings' runner)")
    add_release_arguments(parser)


def add_arguments(parser) -> None:
    add_target_arguments(parser)


def target_runner(args, **options):
    """(settings, runner) for --pipeline/--env/--target and the release options."""
    from framework.core.errors import UserError
    from framework.production.release import release_from_args
    from framework.runners import get_runner
    from framework.settings import load_settings

    settings = load_settings(args.pipeline, args.env)
    target = args.target or settings.runner
    if target not in ("kubeflow", "vertex"):
        raise UserError(f"environment '{settings.env}' runs on '{settings.runner}': pass "
                        "--target kubeflow or --target vertex")
    release = release_from_args(settings, args)
    return get_runner(target, settings, release=release, **options)


def run(args) -> int:
    from framework.production.preflight import blocking

    runner = target_runner(args)
    findings = runner.check()
    for finding in findings:
        print(finding)
    errors = blocking(findings)
    where = f"{runner.settings.pipeline.name} on {runner.name} ({runner.settings.env})"
    if errors:
        print(f"{len(errors)} error(s), {len(findings) - len(errors)} warning(s) for {where}")
        return 1
    print(f"ready: {where}, {len(findings)} warning(s)")
    return 0
