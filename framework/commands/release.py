"""`mlops release`: the model registry, canary, promote, rollback, status; outcome feedback
and the A/B test on outcomes (feedback, compare)."""

from __future__ import annotations

import argparse

from framework.commands._common import add_pipeline_env

NAME = "release"
HELP = ("model registry and safe release: status, canary, promote, rollback, manifest, "
        "feedback, compare")


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
    promote.add_argument("--require-winner", action=argparse.BooleanOptionalAction,
                         default=None,
                         help="refuse unless `mlops release compare` finds the canary better "
                         "than production on its outcomes (default: the settings' "
                         "release.ab_test.require_winner)")

    rollback = sub.add_parser("rollback", help="take the canary out (its share goes to 0), "
                              "or return production to the last good version")

    manifest = sub.add_parser("manifest", help="print the KServe InferenceService for the "
                              "current state")
    manifest.add_argument("--output", "-o", default=None, help="write it to this file")

    feedback = sub.add_parser("feedback", help="send the true labels of answered requests "
                              "(by request id) from a CSV or JSON Lines file to the running "
                              "`mlops serve`")
    feedback.add_argument("file", help="CSV with a header naming request_id and label, or "
                          'JSON Lines of {"request_id": "...", "label": ...}; a request of '
                          "several examples takes a JSON list of labels")
    feedback.add_argument("--url", default=None,
                          help="the server's base URL (default: http://<release.host>:"
                          "<release.port>)")
    feedback.add_argument("--batch-size", type=int, default=500, metavar="N",
                          help="labels sent per request (default: 500)")

    compare = sub.add_parser("compare", help="A/B test on outcomes: the canary against "
                             "production on the labels fed back, with confidence intervals "
                             "and a verdict")
    compare.add_argument("--json", action="store_true", help="print the comparison as JSON")

    for verb in (status, canary, promote, rollback, manifest, feedback, compare):
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
    if args.verb == "feedback":
        return _feedback(registry, settings, args)
    if args.verb == "compare":
        return _compare(registry, settings, args)
    if args.verb == "canary":
        state = registry.canary(args.version, args.percent, by=_by(), reason=args.reason)
        print(f"canary {args.version} now gets {args.percent}% of requests "
              f"(production {state.production}: {100 - args.percent}%)")
    elif args.verb == "promote":
        _check_winner(registry, settings, args)
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

    from framework.release.registry import stats_path_for
    from framework.release.stats import read_stats

    state = registry.sync()
    stats = read_stats(stats_path_for(registry.state_path))
    if args.json:
        print(json.dumps({"state": state.to_dict(), "serving_stats": stats}, indent=2))
        return 0
    per_version = (stats or {}).get("versions", {})
    print(f"model {state.model_name or registry.model_name}   registry {registry.state_path} "
          f"(revision {state.revision})")
    print(f"production {state.production or '-'}   canary {state.canary or '-'}   "
          f"last good {state.last_good or '-'}")
    if not state.versions:
        print(f"no versions yet in {registry.serving_dir}: run the pipeline (mlops run)")
        return 0
    _print_table(_version_rows(state, per_version))
    if stats:
        age = time.time() - stats.get("updated", 0)
        rss = stats.get("rss_mb")
        memory = f", RSS {rss:.0f} MB" if rss is not None else ""
        print(f"server stats: pid {stats.get('pid')}{memory}, updated {age:.0f} s ago "
              "(requests since that server started)")
    else:
        print("server stats: none yet (start `mlops serve`)")
    for line in _policy_lines((stats or {}).get("policy"), state):
        print(line)
    if args.history > 0 and state.history:
        print("history (newest last):")
        for entry in state.history[-args.history:]:
            split = "/".join(f"{v}:{p}%" for v, p in entry.get("traffic", {}).items()) or "-"
            reason = f"  why: {entry['reason']}" if entry.get("reason") else ""
            print(f"  {entry['at']}  {entry['action']:<14} {entry['version']:<12} "
                  f"traffic {split}  by {entry['by']}{reason}")
    return 0


def _version_rows(state, per_version: dict) -> list[tuple]:
    """One row a version: stage, traffic and the server's figures for it (CPU: the mean of
    its model calls' process CPU per request; LOAD MB: resident memory its load added;
    DRIFT: distance of its prediction scores from production's)."""
    from framework.release.registry import sort_versions

    traffic = state.traffic()
    rows = [("VERSION", "STAGE", "TRAFFIC", "REQUESTS", "ERRORS", "P50 MS", "P99 MS",
             "CPU MS", "LOAD MB", "DRIFT", "NOTE")]
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
            _ms(s.get("p50_ms")), _ms(s.get("p99_ms")), _num(s.get("cpu_ms_mean"), ".2f"),
            _num(s.get("load_cost_mb"), "+.0f"), _num(s.get("drift"), ".2f"),
            "; ".join(note),
        ))
    return rows


def _print_table(rows: list[tuple], indent: str = "", left: int = 2) -> None:
    """Columns padded to their widest cell: the first `left` to the left, the rest to the
    right; the last column (a note) as it is."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [row[i].ljust(widths[i]) for i in range(left)]
        cells += [row[i].rjust(widths[i]) for i in range(left, len(widths))]
        print((indent + "  ".join(cells + [row[-1]])).rstrip())


def _policy_lines(policy, state) -> list[str]:
    """The rollback policy's latest judgement of a canary: each figure of production and
    the canary next to its limit, the crossed ones marked."""
    import textwrap

    if not policy:
        return ["rollback policy: not judged yet (no canary request since the server "
                "started)"] if state.canary else []
    canary, production = policy.get("canary"), policy.get("production")
    window = policy.get("limits", {}).get("window", "?")
    now = "" if canary == state.canary else \
        f" (now {state.versions.get(canary, {}).get('stage', 'gone')})"
    lines = [f"rollback policy: canary {canary}{now} vs production {production} "
             f"(window: {window} requests)"]
    checks = {c.get("rule"): c for c in policy.get("checks", [])}
    rows = [("CHECK", f"PRODUCTION {production}", f"CANARY {canary}", "LIMIT", "")]
    for rule, title, figures in _POLICY_ROWS:
        check = checks.get(rule, {})
        prod, can = figures(check) if check.get("value") is not None else ("-", "-")
        mark = "CROSSED" if check.get("crossed") else (
            "" if check.get("value") is not None or check.get("limit") is None
            else "not judged yet")
        rows.append((title, prod, can, _limit(rule, check.get("limit")), mark))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        lines.append(("  " + "  ".join(row[i].ljust(widths[i]) for i in range(4))
                      + "  " + row[4]).rstrip())
    waiting = _waiting(policy, checks)
    if waiting:
        lines += textwrap.wrap("not judged yet: " + "; ".join(waiting), 98,
                               initial_indent="  ", subsequent_indent="    ")
    return lines


def _waiting(policy: dict, checks: dict) -> list[str]:
    """What the checks not judged yet wait for."""
    limits = policy.get("limits", {})
    window = limits.get("window", 0)
    production, canary = policy.get("production_requests", 0), policy.get("canary_requests", 0)
    if production < window or canary < window:
        return [f"{window} requests of each (production has {production}, the canary "
                f"{canary})"]
    waiting = []
    cpu, drift = checks.get("cpu_ratio", {}), checks.get("drift", {})
    if cpu.get("value") is None and cpu.get("limit"):
        waiting.append(f"CPU, {max(1, window // 2)} requests of each measured alone "
                       f"(production {cpu.get('production_measured', 0)}, the canary "
                       f"{cpu.get('canary_measured', 0)})")
    if drift.get("value") is None and drift.get("limit"):
        waiting.append(f"drift, {limits.get('drift_examples')} prediction scores of each")
    return waiting


def _percent_of(errors, requests) -> str:
    if not requests:
        return "-"
    return f"{errors / requests:.1%} ({errors} of {requests})"


_POLICY_ROWS = (
    ("error_rate", "error rate", lambda c: (
        _percent_of(c.get("production_errors", 0), c.get("production_requests", 0)),
        _percent_of(c.get("canary_errors", 0), c.get("canary_requests", 0)))),
    ("p99_ms", "p99 latency", lambda c: (
        _num(c.get("production_ms"), ".1f", " ms"), _num(c.get("value"), ".1f", " ms"))),
    ("cpu_ratio", "CPU per request", lambda c: (
        _num(c.get("production_ms"), ".2f", " ms"),
        f"{_num(c.get('canary_ms'), '.2f', ' ms')} ({c['value']:.1f}x)")),
    ("memory_mb", "memory (RSS)", lambda c: (
        _num(c.get("rss_mb"), ".0f", " MB", "RSS "),
        f"load {_num(c.get('load_cost_mb'), '+.0f', ' MB')}, then "
        f"{_num(c.get('growth_mb'), '+.0f', ' MB')}")),
    ("drift", "prediction drift", lambda c: (
        f"{c.get('production_scores', 0)} scores",
        f"{c['value']:.2f} ({c.get('canary_scores', 0)} scores)")),
)


def _limit(rule: str, limit) -> str:
    if limit is None:
        return "off"
    return {"error_rate": f"{limit:.0%}", "p99_ms": f"{limit:g} ms",
            "cpu_ratio": f"{limit:g}x production", "memory_mb": f"{limit:g} MB",
            "drift": f"{limit:g}"}.get(rule, f"{limit:g}")


def _num(value, spec: str, unit: str = "", prefix: str = "") -> str:
    return "-" if value is None else f"{prefix}{value:{spec}}{unit}"


def _ms(value) -> str:
    return "-" if value is None else f"{value:.1f}"


# -- the A/B test on outcomes (framework/release/outcomes.py, abtest.py) ---------------------


def _check_winner(registry, settings, args) -> None:
    """promote --require-winner (default: release.ab_test.require_winner): refuse unless the
    canary won its A/B test on outcomes."""
    required = args.require_winner
    if required is None:
        required = settings.release.ab_test.require_winner
    if not required:
        return
    from framework.release.abtest import require_winner
    from framework.release.outcomes import outcomes_path_for, read_outcomes

    snapshot = read_outcomes(outcomes_path_for(registry.state_path))
    comparison = require_winner(registry.read(), snapshot, settings.release.ab_test,
                                args.version)
    if comparison is not None:
        print(f"A/B test: {comparison.summary()}")


def _compare(registry, settings, args) -> int:
    import json
    import time

    from framework.release.abtest import compare, format_comparison
    from framework.release.outcomes import outcomes_path_for, read_outcomes

    ab_test = settings.release.ab_test
    path = outcomes_path_for(registry.state_path)
    snapshot = read_outcomes(path)
    comparison = compare(snapshot, registry.read(), min_samples=ab_test.min_samples,
                         confidence=ab_test.confidence, metric=ab_test.metric)
    if args.json:
        print(json.dumps({"outcomes_file": path,
                          "outcomes_updated": (snapshot or {}).get("updated"),
                          **comparison.to_dict()}, indent=2))
        return 0
    for line in format_comparison(comparison):
        print(line)
    if snapshot:
        age = time.time() - snapshot.get("updated", 0)
        print(f"outcomes: {path}, written {age:.0f} s ago by server pid {snapshot.get('pid')}")
    else:
        print(f"outcomes: none yet in {path} (`mlops serve` keeps its answered predictions; "
              "send their labels with `mlops release feedback FILE`)")
    return 0


def _feedback(registry, settings, args) -> int:
    import re

    from framework.core.errors import UserError
    from framework.release.outcomes import read_feedback_file

    if args.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {args.batch_size}")
    rows = read_feedback_file(args.file)
    base = (args.url or _server_url(settings.release)).rstrip("/")
    url = f"{base}/v1/models/{registry.model_name}/feedback"
    accepted, unknown, unknown_ids = 0, 0, []
    for start in range(0, len(rows), args.batch_size):
        batch = rows[start:start + args.batch_size]
        status, answer = _post_json(url, {"feedback": [
            {"request_id": request_id, "label": label} for _, request_id, label in batch]})
        if status != 200:
            message = re.sub(r"feedback\[(\d+)\]",
                             lambda m, batch=batch: f"{args.file} line {batch[int(m[1])][0]}",
                             str(answer.get("error") or answer))
            done = (f"; the {accepted} labels before it were accepted (sending the file again "
                    "is safe: a label sent twice replaces the first)") if accepted else ""
            raise UserError(f"the server at {base} refused the labels (HTTP {status}): "
                            f"{message}{done}")
        accepted += int(answer.get("accepted", 0))
        unknown += int(answer.get("unknown", 0))
        unknown_ids += answer.get("unknown_ids", [])
    shown = ", ".join(unknown_ids[:5]) + (", ..." if unknown > 5 else "")
    if not accepted:
        raise UserError(f"none of the {len(rows)} request ids in {args.file} is known to the "
                        f"server at {base} (e.g. {shown}): it keeps the requests it answered "
                        "since it started, the newest release.ab_test.max_predictions per "
                        "version")
    print(f"sent {len(rows)} labels from {args.file} to {base}: {accepted} accepted, "
          f"{unknown} with an unknown request id")
    if unknown:
        print(f"unknown request ids: {shown} (not answered by this server since it started, "
              "or older than the newest release.ab_test.max_predictions per version)")
    return 0


def _server_url(release) -> str:
    from framework.core.errors import UserError

    if not release.port:
        raise UserError("release.port is 0 (`mlops serve` picks a free port): pass the "
                        "server's --url")
    host = release.host if release.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
    return f"http://[{host}]:{release.port}" if ":" in host else f"http://{host}:{release.port}"


def _post_json(url: str, body: dict) -> tuple[int, dict]:
    """(HTTP status, JSON answer) of a POST; UserError when the server cannot be reached."""
    import json
    import urllib.error
    import urllib.request

    from framework.core.errors import UserError

    request = urllib.request.Request(url, data=json.dumps(body).encode("utf-8"), method="POST",
                                     headers={"Content-Type": "application/json"})
    base = url.split("/v1/", 1)[0]
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read()
    except ValueError as exc:
        raise UserError(f"--url {base}: not an http:// URL ({exc})") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise UserError(f"cannot reach the prediction service at {base}: {reason} "
                        "(is `mlops serve` running? --url names another server)") from None
    try:
        answer = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise UserError(f"{url} answered HTTP {status} with something other than JSON: "
                        f"{text[:200]!r} (is it `mlops serve`?)") from None
    return status, answer if isinstance(answer, dict) else {"error": answer}
