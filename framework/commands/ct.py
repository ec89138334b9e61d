"""`mlops ct`: continuous training. check | run | watch | history | schedule.

Exit codes of `check`, `run` and `watch`: 0 = no trigger fired, 10 = a trigger fired
(for `run`/`watch`: and the run it started succeeded); a failed run exits 4, as `mlops run`;
11 = a trigger crashed (`check`, and `run` when nothing fired), with its name and error.
"""

from framework.commands._common import add_pipeline_env

NAME = "ct"
HELP = "continuous training: check triggers, run when one fires, watch, history, schedule"


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="ct_command", metavar="VERB")
    sub.required = True

    check = sub.add_parser("check", help="evaluate every trigger once; exit 10 if one fired")
    add_pipeline_env(check)
    check.add_argument("--json", metavar="FILE", help="also write the decision as JSON")

    run = sub.add_parser("run", help="check, and start the pipeline when a trigger fired")
    add_pipeline_env(run)
    run.add_argument("--runner", default=None, help="runner (default: the settings' runner)")
    run.add_argument("--force", action="store_true", help="run even when nothing fired")
    run.add_argument("--verbose", "-v", action="store_true", help="show TFX logs")
    run.add_argument("--json", metavar="FILE", help="also write the decision as JSON")

    watch = sub.add_parser("watch", help="check (and run) every --interval seconds")
    add_pipeline_env(watch)
    watch.add_argument("--interval", type=float, default=300.0, help="seconds between checks")
    watch.add_argument("--max-iterations", type=int, default=None,
                       help="stop after N checks (default: run until interrupted)")
    watch.add_argument("--runner", default=None, help="runner (default: the settings' runner)")

    hist = sub.add_parser("history", help="recorded decisions with their evidence")
    add_pipeline_env(hist)
    hist.add_argument("--limit", "-n", type=int, default=20, help="newest N (default 20)")
    hist.add_argument("--json", action="store_true", help="print the records as JSON lines")

    schedule = sub.add_parser(
        "schedule", help="create the ct.schedule as a KFP recurring run or Vertex AI schedule")
    add_pipeline_env(schedule)
    schedule.add_argument("--target", choices=["kubeflow", "vertex"], default=None,
                          help="default: the settings' runner")
    schedule.add_argument("--package", default=None,
                          help="compiled pipeline file (default: compile with the runner)")


def run(args) -> int:
    from framework.ct.quiet import quiet_libraries
    from framework.settings import load_settings

    if not getattr(args, "verbose", False):
        quiet_libraries()
    settings = load_settings(args.pipeline, args.env)
    return {
        "check": _check, "run": _run, "watch": _watch, "history": _history,
        "schedule": _schedule,
    }[args.ct_command](settings, args)


def _write_json(path, decision) -> None:
    from framework.commands._common import write_json

    write_json(path, decision.to_dict())


def _check(settings, args) -> int:
    from framework.ct import EXIT_FIRED, EXIT_NONE_FIRED
    from framework.ct.loop import check, format_decision

    decision = check(settings)
    print(format_decision(decision))
    _write_json(args.json, decision)
    decision.raise_for_errors()
    return EXIT_FIRED if decision.fired else EXIT_NONE_FIRED


def _print(decision) -> None:
    from framework.ct.loop import format_decision

    print(format_decision(decision), flush=True)


def _run(settings, args) -> int:
    from framework.core.errors import RunFailedError
    from framework.ct import EXIT_FIRED, EXIT_NONE_FIRED
    from framework.ct.loop import format_run, run_once

    decision = run_once(settings, runner_name=args.runner, force=args.force,
                        runner_options={"verbose": args.verbose}, announce=_print)
    _write_json(args.json, decision)
    if decision.action != "run":
        decision.raise_for_errors()  # nothing fired, but a crashed trigger may have hidden it
        return EXIT_NONE_FIRED
    print(format_run(decision))
    if not decision.run.get("succeeded"):
        raise RunFailedError(decision.run.get("error") or "the run failed")
    return EXIT_FIRED


def _watch(settings, args) -> int:
    from framework.ct import EXIT_FIRED, EXIT_NONE_FIRED
    from framework.ct.loop import format_run, watch

    def announce(decision):
        _print(decision)

    decisions = watch(settings, args.interval, args.max_iterations, runner_name=args.runner,
                      announce=announce, on_run=lambda d: print(format_run(d), flush=True))
    return EXIT_FIRED if any(d.action == "run" for d in decisions) else EXIT_NONE_FIRED


def _history(settings, args) -> int:
    import json

    from framework.ct import history
    from framework.ct.loop import Decision, format_decision
    from framework.ct.triggers import TriggerResult

    records = history.read(settings, args.limit)
    if not records:
        print(f"no decisions recorded yet in {history.history_file(settings)}")
        return 0
    for record in records:
        if args.json:
            print(json.dumps(record, sort_keys=True, default=str))
            continue
        decision = Decision(record.get("command", "?"), record.get("pipeline", "?"),
                            record.get("env", "?"))
        decision.time = record.get("time", "?")
        decision.action = record.get("action", "none")
        decision.reason = record.get("reason", "")
        decision.run = record.get("run")
        decision.triggers = [TriggerResult(**t) for t in record.get("triggers", [])]
        print(format_decision(decision))
    return 0


def _schedule(settings, args) -> int:
    from framework.ct.production import schedule

    created = schedule(settings, target=args.target, package_path=args.package)
    print(created)
    return 0
