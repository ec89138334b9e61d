"""`mlops run`: run a pipeline end to end on a runner, with progress and a summary."""

from framework.commands._common import add_pipeline_env

NAME = "run"
HELP = "run a pipeline (default: taxi on the local runner)"


def add_arguments(parser) -> None:
    add_pipeline_env(parser)
    parser.add_argument("--runner", default=None,
                        help="local or container (default: the settings' runner, else local)")
    parser.add_argument("--no-cache", action="store_true", help="run every component again")
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="show TFX, Beam and TensorFlow logs instead of writing them to a file")
    parser.add_argument("--image", default=None, help="container runner: use this image")
    parser.add_argument("--json", metavar="FILE", default=None,
                        help="also write the run's result as JSON to FILE")


def run(args) -> int:
    from framework.commands._common import write_json
    from framework.core.progress import format_summary
    from framework.runners import get_runner
    from framework.runners.local import raise_for_result
    from framework.settings import load_settings

    settings = load_settings(args.pipeline, args.env)
    if args.no_cache:
        settings = settings.replace(enable_cache=False)
    runner_name = args.runner or ("local" if settings.runner in ("kubeflow", "vertex")
                                  else settings.runner)
    options = {"verbose": args.verbose}
    if args.image:
        options["image"] = args.image
    runner = get_runner(runner_name, settings, **options)
    result = runner.run()
    print(format_summary(result))
    write_json(args.json, result.to_dict())
    raise_for_result(result)
    return 0
