"""`mlops release`: the model registry, canary, promote, rollback, status."""

from __future__ import annotations

from framework.commands._common import add_pipeline_env

NAME = "release"
HELP = "model registry and safe release: status, canary, promote, rollback, manifest"


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True

    status = sub.add_parser("status", help="versions, stages, traffic, requests, errors, "
                            "p50/p99 latency, recent history")
    status.add_argument("--history", type=int, default=5, metavar="N",
                        help="show the last N history entries (default: 5)")
    status.add_argument("--json", action="store_true", help="print the state as JSON")

    canary = sub.add_parser("canary", help="send a version out to a share of the traffic")
    canary.add_argument("version")
    canary.add_argument("--percent", type=int, required=True,
                        help="share of requests for the canary, 1-99")

    promote = sub.add_parser("promote", help="make the canary (or, the first time, VERSION) "
                             "the production version")
    promote.add_argument("version", nargs="?", default=None)
    promote.add_argument("--force", action="store_true",
                         help="promote a version that has not been out as a canary")

    rollback = sub.add_parser("rollback", help="take the canary out (its share goes to 0), "
                              "or return production to the last good version")

    manifest = sub.add_parser("manifest", help="print the KServe InferenceService for the "
                              "current state")
    manifest.add_argument("--output", "-o", default=None, help="write it to this file")

    for verb in (status, canary, promote, rollback, manifest):
        add_pipeline_env(verb)
    for verb in (canary, promote, rollback):
        verb.add_argument("--reason", default="", help="why (kept in the history)")
        verb.add_argument("--target", choices=("local", "kserve", "vertex"), default=None,
                          help="also apply the change to this target "
                          "(default: the settings' release.target)")


def _by() -> str:
    import shlex
    import sys

    return "mlops " + shlex.join(sys.argv[1:])


def run(args) -> int:
    from framework.release.registry import Registry
    from framework.settings import load_settings

    settings = load_settings(args.pipeline, args.env)
    registry = Registry.from_settings(settings)
    if args.verb == "status":
        return _status(registry, args)
    if args.verb == "manifest":
        return _manifest(registry, settings, args)
    if args.verb == "canary":
        state = registry.canary(args.version, args.percent, by=_by(), reason=args.reason)
        print(f"canary {args.version} now gets {args.percent}% of requests "
              f"(production {state.production}: {100 - args.percent}%)")
    elif args.verb == "promote":
        state = registry.promote(args.version, by=_by(), reason=args.reason, force=args.force)
        print(f"version {state.production} is in production (100% of requests)")
    else:
        state = registry.rollback(by=_by(), reason=args.reason)
        print(f"rolled back {state.rolled_back}: production {state.production} "
              "gets 100% of requests")
    _apply_target(args.target or settings.release.target, state, settings, registry)
    return 0


def _apply_target(target: str, state, settings, registry) -> None:
    if target == "kserve":
        from framework.release.kserve import write_manifest

        path = write_manifest(state, settings, str(registry.state_path))
        print(f"KServe InferenceService written to {path} (apply it with kubectl apply -f)")
    elif target == "vertex":
        from framework.release.vertex import VertexEndpointTarget

        split = VertexEndpointTarget(settings).apply(state)
        print(f"Vertex endpoint {settings.release.vertex_endpoint.endpoint}: traffic_split "
              f"{split}")
    else:
        print("a running `mlops serve` picks the change up within a second")


def _manifest(registry, settings, args) -> int:
    import yaml

    from framework.release.kserve import inference_service

    text = yaml.safe_dump(inference_service(registry.sync(), settings), sort_keys=False)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
        print(f"wrote {args.output}")
    else:
        print(text, end="")
    return 0


def _status(registry, args) -> int:
    import json
    import time

    from framework.release.registry import sort_versions, stats_path_for
    from framework.release.stats import read_stats

    state = registry.sync()
    stats = read_stats(stats_path_for(registry.state_path))
    if args.json:
        print(json.dumps({"state": state.to_dict(), "serving_stats": stats}, indent=2))
        return 0
    traffic = state.traffic()
    per_version = (stats or {}).get("versions", {})
    print(f"model {state.model_name or registry.model_name}   registry {registry.state_path} "
          f"(revision {state.revision})")
    print(f"production {state.production or '-'}   canary {state.canary or '-'}   "
          f"last good {state.last_good or '-'}")
    if not state.versions:
        print(f"no versions yet in {registry.serving_dir}: run the pipeline (mlops run)")
        return 0
    rows = [("VERSION", "STAGE", "TRAFFIC", "REQUESTS", "ERRORS", "P50 MS", "P99 MS", "NOTE")]
    for version in reversed(sort_versions(state.versions)):
        info = state.versions[version]
        s = per_version.get(version, {})
        note = []
        if info.get("rolled_back"):
            note.append(f"rolled back: {info['rolled_back']}")
        if info.get("missing"):
            note.append("missing from the serving folder")
        rows.append((
            version, info["stage"],
            f"{traffic[version]}%" if version in traffic else "-",
            str(s.get("requests", "-")), str(s.get("errors", "-")),
            _ms(s.get("p50_ms")), _ms(s.get("p99_ms")), "; ".join(note),
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [row[i].rjust(widths[i]) for i in range(2, len(widths))]
        print("  ".join(cells + [row[-1]]).rstrip())
    if stats:
        age = time.time() - stats.get("updated", 0)
        print(f"server stats: pid {stats.get('pid')}, updated {age:.0f} s ago "
              "(requests since that server started)")
    else:
        print("server stats: none yet (start `mlops serve`)")
    if args.history > 0 and state.history:
        print("history (newest last):")
        for entry in state.history[-args.history:]:
            split = "/".join(f"{v}:{p}%" for v, p in entry.get("traffic", {}).items()) or "-"
            reason = f"  why: {entry['reason']}" if entry.get("reason") else ""
            print(f"  {entry['at']}  {entry['action']:<14} {entry['version']:<12} "
                  f"traffic {split}  by {entry['by']}{reason}")
    return 0


def _ms(value) -> str:
    return "-" if value is None else f"{value:.1f}"
