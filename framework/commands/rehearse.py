"""`mlops rehearse`: run the compiled Kubeflow or Vertex pipeline in its image, here, first."""

from framework.commands.check import add_target_arguments
from framework.commands.compile import add_ignore

NAME = "rehearse"
HELP = ("run the spec `deploy` would upload, task by task in the pipeline image "
        "(kfp.local's Docker runner), before deploying it")


def add_arguments(parser) -> None:
    add_target_arguments(parser)
    parser.add_argument("--package", default=None,
                        help="a file from `mlops compile` (default: compile now, as deploy does)")
    parser.add_argument("--local-image", default=None, metavar="REF",
                        help="a local image to run in place of the spec's reference; it is "
                        "tagged with that reference, even if an image is there already "
                        "(default: the reference if it is on the engine, else "
                        "<image.repository>:local, what `mlops image build` makes)")
    parser.add_argument("--data", default=None, metavar="FOLDER",
                        help="the sample data to rehearse on (default: the data root of the "
                        "`local` environment)")
    parser.add_argument("--root", default=None, metavar="FOLDER",
                        help="the local folder for the pipeline root, data and serving "
                        "(default: .mlops/rehearsal/<pipeline>/<env>)")
    parser.add_argument("--keep-containers", action="store_true",
                        help="leave each task's stopped container on the engine")
    parser.add_argument("--json", metavar="FILE", default=None,
                        help="also write the rehearsal's result as JSON to FILE")
    add_ignore(parser)


def run(args) -> int:
    from framework.commands._common import write_json
    from framework.commands.check import target_runner
    from framework.core.progress import format_summary
    from framework.ct.quiet import quiet_libraries
    from framework.production.preflight import parse_ignore
    from framework.rehearsal.rehearse import default_root, raise_for_failure, rehearse
    from framework.runners.container import ContainerRunner

    quiet_libraries()
    runner = target_runner(args, ignore=parse_ignore(args.ignore))
    settings = runner.settings
    result = rehearse(
        runner, root=args.root or default_root(settings), data=args.data,
        image=args.local_image, fallback_image=ContainerRunner(settings).local_ref(),
        package=args.package, keep_containers=args.keep_containers)
    print(format_summary(result.run))
    write_json(args.json, result.to_dict())
    raise_for_failure(result)
    return 0
