"""`mlops deploy`: upload a new version to Kubeflow Pipelines, or submit to Vertex AI."""

from framework.commands.check import add_target_arguments
from framework.commands.compile import add_ignore

NAME = "deploy"
HELP = "deploy a pipeline to Kubeflow Pipelines 2.x or Vertex AI; --run starts it, --wait waits"


def add_arguments(parser) -> None:
    add_target_arguments(parser)
    parser.add_argument("--package", default=None,
                        help="a file from `mlops compile` (default: compile now)")
    parser.add_argument("--out", "-o", default=None,
                        help="where to compile (default: .mlops/compiled/<env>)")
    parser.add_argument("--run", action="store_true",
                        help="start a run with the parameters from settings")
    parser.add_argument("--wait", action="store_true",
                        help="wait for the run; exit non-zero unless it succeeds")
    parser.add_argument("--timeout", type=float, default=None, metavar="S",
                        help="with --wait: give up after S seconds (exit 5)")
    parser.add_argument("--poll", type=float, default=10.0, metavar="S",
                        help="with --wait: seconds between state checks (default 10)")
    add_ignore(parser)


def run(args) -> int:
    from framework.commands.check import target_runner
    from framework.core.errors import UserError
    from framework.production.preflight import parse_ignore

    if args.wait and not args.run:
        raise UserError("--wait needs --run (there is no run to wait for)")
    if args.timeout is not None and not args.wait:
        raise UserError("--timeout needs --wait")
    runner = target_runner(args, ignore=parse_ignore(args.ignore), poll_seconds=args.poll)
    outcome = runner.deploy(package=args.package, out_dir=args.out, run=args.run,
                            wait=args.wait, timeout=args.timeout)
    if outcome.created:
        print("created: " + ", ".join(outcome.created))
    else:
        print("created: nothing new")
    if outcome.state:
        print(f"run {outcome.run_id}: {outcome.state}")
    return 0
