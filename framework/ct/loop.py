"""check / run / watch: evaluate the triggers, start the pipeline when one fired, record why."""

from __future__ import annotations

import datetime
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from framework.ct import history
from framework.ct.lock import ct_lock, holder
from framework.ct.triggers import TriggerResult, evaluate


@dataclass
class Decision:
    command: str
    pipeline: str
    env: str
    triggers: list[TriggerResult] = field(default_factory=list)
    action: str = "none"  # none | run | skipped
    reason: str = ""
    run: Optional[dict] = None
    time: str = field(default_factory=lambda: datetime.datetime.now(
        datetime.timezone.utc).isoformat(timespec="seconds"))
    process: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")

    @property
    def fired(self) -> list[str]:
        return [t.name for t in self.triggers if t.fired]

    @property
    def errors(self) -> list[str]:
        """'name: error' of each trigger that crashed instead of deciding."""
        return [f"{t.name}: {t.error}" for t in self.triggers if t.error]

    def raise_for_errors(self) -> None:
        from framework.core.errors import TriggerError

        if self.errors:
            raise TriggerError(f"trigger {'; '.join(self.errors)} (could not be evaluated: "
                               "fix it, or switch it off in settings)")

    def to_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k != "triggers"}
        out["triggers"] = [t.to_dict() for t in self.triggers]
        out["fired"] = self.fired
        return out


def check(settings, *, record: bool = True, now=None) -> Decision:
    """Evaluate every enabled trigger once; never starts a run."""
    decision = Decision("check", settings.pipeline.name, settings.env)
    decision.triggers = evaluate(settings, now=now)
    decision.reason = _summary(decision)
    if record:
        history.append(settings, decision.to_dict())
    return decision


def run_once(settings, *, command: str = "run", runner_name: Optional[str] = None,
             runner_options: Optional[dict] = None, force: bool = False,
             triggers: Optional[list[TriggerResult]] = None,
             announce: Callable[[Decision], None] = lambda d: None) -> Decision:
    """Check under the CT lock and, when a trigger fired (or `force`), run the pipeline.

    Another process holding the lock means its check (and any run it started) is still
    going: this one records a skipped decision instead of racing it to the same new data.
    """
    from framework.runners import get_runner

    decision = Decision(command, settings.pipeline.name, settings.env)
    with ct_lock(settings) as held:
        if not held:
            decision.action = "skipped"
            decision.reason = (f"another check or run holds the CT lock ({holder(settings)});"
                               " not evaluating")
            history.append(settings, decision.to_dict())
            announce(decision)
            return decision
        # `triggers` given: an event already decided (see events.py); else evaluate them.
        decision.triggers = triggers if triggers is not None else evaluate(settings)
        if not decision.fired and not force:
            decision.reason = _summary(decision)
            history.append(settings, decision.to_dict())
            announce(decision)
            return decision
        decision.action = "run"
        decision.reason = _summary(decision) if decision.fired else "forced"
        announce(decision)
        name = runner_name or settings.runner
        runner = get_runner(name, settings, **(runner_options or {}))
        started = time.monotonic()
        try:
            result = runner.run()
        except Exception as exc:  # recorded below; the CLI re-raises user errors
            decision.run = {"runner": name, "succeeded": False, "error": str(exc).splitlines()[0]
                            if str(exc) else type(exc).__name__,
                            "seconds": round(time.monotonic() - started, 1)}
            history.append(settings, decision.to_dict())
            raise
        decision.run = {
            "runner": name, "run_id": result.run_id, "succeeded": result.succeeded,
            "blessed": result.blessed, "pushed_model": result.pushed_model,
            "error": result.error, "seconds": round(result.seconds, 1),
        }
        history.append(settings, decision.to_dict())
        return decision


def watch(settings, interval: float, max_iterations: Optional[int] = None, *,
          runner_name: Optional[str] = None, runner_options: Optional[dict] = None,
          announce: Callable[[Decision], None] = lambda d: None,
          on_run: Callable[[Decision], None] = lambda d: None,
          sleep: Callable[[float], None] = time.sleep) -> list[Decision]:
    """run_once every `interval` seconds; a failed run is recorded and the loop goes on."""
    from framework.core.errors import UserError

    decisions = []
    iteration = 0
    while max_iterations is None or iteration < max_iterations:
        iteration += 1
        try:
            decision = run_once(settings, command="watch", runner_name=runner_name,
                                runner_options=runner_options, announce=announce)
            decisions.append(decision)
            if decision.action == "run":
                on_run(decision)
        except UserError as exc:  # the run failed; already recorded
            print(f"run failed: {exc}", flush=True)
        if max_iterations is None or iteration < max_iterations:
            sleep(interval)
    return decisions


def _summary(decision: Decision) -> str:
    fired = [t for t in decision.triggers if t.fired]
    if fired:
        return "; ".join(f"{t.name}: {t.reason}" for t in fired)
    return "nothing fired"


def format_decision(decision: Decision, verbose: bool = True) -> str:
    lines = [f"{decision.time}  {decision.command}  pipeline {decision.pipeline} "
             f"[{decision.env}]"]
    for t in decision.triggers:
        mark = "FIRED" if t.fired else ("error" if t.error else "-")
        lines.append(f"  {t.name:<9} {mark:<6} {t.reason}" + (f" ({t.error})" if t.error else ""))
        if verbose:
            for e in t.evidence:
                lines.append("              " + _evidence_line(e))
    if decision.action == "skipped":
        lines.append(f"  skipped: {decision.reason}")
    elif decision.action == "run":
        lines.append(format_run(decision) if decision.run else "  starting a run")
    elif decision.fired:
        lines.append(f"  fired: {', '.join(decision.fired)}")
    else:
        lines.append("  nothing fired")
    return "\n".join(lines)


def format_run(decision: Decision) -> str:
    run = decision.run or {}
    state = "succeeded" if run.get("succeeded") else f"FAILED: {run.get('error')}"
    pushed = f", pushed {run['pushed_model']}" if run.get("pushed_model") else ", nothing pushed"
    return f"  run {run.get('run_id', '?')} on {run.get('runner')}: {state}{pushed}"


def _evidence_line(evidence: dict) -> str:
    if {"feature", "statistic", "value", "threshold"} <= evidence.keys():
        return (f"feature={evidence['feature']} statistic={evidence['statistic']} "
                f"value={evidence['value']} threshold={evidence['threshold']}")
    return " ".join(f"{k}={v}" for k, v in evidence.items() if k != "files")
