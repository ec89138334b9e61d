"""`mlops compile`: write the pipeline for Kubeflow (IR YAML) or Vertex AI (PipelineJob JSON)."""

from framework.commands.check import add_target_arguments

NAME = "compile"
HELP = "compile a pipeline for Kubeflow Pipelines 2.x or Vertex AI (runs the pre-flight check)"


def add_ignore(parser) -> None:
    parser.add_argument("--ignore", action="append", metavar="RULE[,RULE]", default=None,
                        help="go ahead despite these pre-flight rules (see `mlops check`)")


def add_arguments(parser) -> None:
    add_target_arguments(parser)
    parser.add_argument("--out", "-o", default=None,
                        help="output folder (default: .mlops/compiled/<env>)")
    add_ignore(parser)


def run(args) -> int:
    import time

    from framework.commands.check import target_runner
    from framework.production.compile import default_out_dir
    from framework.production.preflight import parse_ignore

    runner = target_runner(args, ignore=parse_ignore(args.ignore))
    started = time.monotonic()
    out = args.out or default_out_dir(runner.settings)
    compiled = runner.compile_checked(out)
    tasks = len(compiled.spec["root"]["dag"]["tasks"])
    release = runner.release
    print(f"compiled {runner.settings.pipeline.name} for {runner.name}: {compiled.path} "
          f"({tasks} tasks, image {release.image}, {time.monotonic() - started:.1f} s)")
    return 0
