"""The compiled spec made runnable on one machine, with every change to it listed.

The rehearsal runs the spec that `deploy` uploads. Only what cannot exist on one machine is
replaced, each replacement recorded so that it can be printed and tested:
- the pipeline root, the data root and the serving folder (gs:// in production) become
  folders under one local root, which kfp.local mounts into every task;
- Beam's DataflowRunner, FlinkRunner, SparkRunner or PortableRunner arguments become
  DirectRunner's (Dataflow is a Google service; the clusters are not here);
- nodes kfp.local cannot execute (Vertex's resolver nodes) are taken out, and the inputs
  that read them dropped, so that the rehearsal is a first run: the state in which those
  resolvers find nothing on Vertex too.
Nothing else changes. A path the result still names that no task can reach is reported by
the rehearsal's pre-flight (`unreachable_paths`).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Iterator

# Executor kinds kfp.local's DAG orchestrator runs (kfp/local/dag_orchestrator.py).
RUNNABLE_EXECUTORS = ("container", "importer")


@dataclass(frozen=True)
class Replacement:
    what: str
    before: str
    after: str

    def __str__(self) -> str:
        return f"replaced {self.what}: {self.before} -> {self.after}"


@dataclass(frozen=True)
class StandIn:
    """A node of the spec that kfp.local cannot run, and what the rehearsal does instead."""

    node: str
    why: str
    instead: str

    def __str__(self) -> str:
        return f"not run: {self.node} ({self.why}); {self.instead}"


@dataclass
class LocalSpec:
    spec: dict  # the PipelineSpec (IR) to execute
    replacements: list[Replacement]
    stand_ins: list[StandIn]

    @property
    def tasks(self) -> list[str]:
        return sorted(self.spec["root"]["dag"]["tasks"])


def _replace_strings(node, old: str, new: str):
    """`node` with every occurrence of `old` in its strings replaced (JSON-in-strings too)."""
    if isinstance(node, str):
        return node.replace(old, new)
    if isinstance(node, list):
        return [_replace_strings(v, old, new) for v in node]
    if isinstance(node, dict):
        return {k: _replace_strings(v, old, new) for k, v in node.items()}
    return node


def _contains(node, text: str) -> bool:
    return text in json.dumps(node)


def localize_paths(spec: dict, paths: dict[str, tuple[str, str]]) -> tuple[dict, list[Replacement]]:
    """Swap each production location for its local folder. `paths`: what -> (before, after).

    Longest first, so that a root that contains another location does not swallow it.
    """
    done = []
    for what, (before, after) in sorted(paths.items(), key=lambda kv: -len(kv[1][0] or "")):
        if before and before != after and _contains(spec, before):
            spec = _replace_strings(spec, before.rstrip("/"), after.rstrip("/"))
            done.append(Replacement(what, before, after))
    return spec, done


def _executors(spec: dict) -> dict:
    return spec.get("deploymentSpec", {}).get("executors", {})


def _beam_tail(args: list[str], production: list[str]) -> int | None:
    """Where the Beam arguments start in an executor's args, or None when it has none."""
    if production and args[-len(production):] == production:
        return len(args) - len(production)
    for i, arg in enumerate(args):
        if arg.startswith("--runner="):
            return i  # TFX appends the Beam arguments last
    return None


def _arg_lists(container: dict) -> Iterator[list[str]]:
    """The executor's args and those of its lifecycle hooks (ExampleGen's pre-cache check)."""
    if container.get("args"):
        yield container["args"]
    for hook in container.get("lifecycle", {}).values():
        if hook.get("args"):
            yield hook["args"]


def _runner_of(args: list[str]) -> str | None:
    return next((a.split("=", 1)[1] for a in args if a.startswith("--runner=")), None)


def local_beam(spec: dict, production: list[str], local: list[str]) -> tuple[dict, list[Replacement]]:
    """Replace each executor's Dataflow, Flink, Spark or portable-runner arguments with
    `local` (DirectRunner's): none of those services exists on one machine."""
    done: dict[str, Replacement] = {}
    for executor in _executors(spec).values():
        for args in _arg_lists(executor.get("container", {})):
            start = _beam_tail(args, production)
            runner = _runner_of(args[start:]) if start is not None else None
            if runner in (None, "DirectRunner"):
                continue
            before = args[start:]
            args[start:] = list(local)
            done[" ".join(before)] = Replacement(
                "beam", f"{runner} ({len(before)} arguments)",
                "DirectRunner" + (f" ({' '.join(local)})" if local else ""))
    return spec, list(done.values())


def lifecycle_hooks(spec: dict) -> list[StandIn]:
    """Lifecycle hooks kfp.local does not run (it has no cache for them to decide on)."""
    found = []
    for label, executor in sorted(_executors(spec).items()):
        for hook in executor.get("container", {}).get("lifecycle", {}):
            found.append(StandIn(f"{label.removesuffix('_executor')} {hook}",
                                 "a lifecycle hook, which kfp.local does not run",
                                 "the task itself runs as on a cache miss"))
    return found


def stand_in_for_unrunnable(spec: dict) -> tuple[dict, list[StandIn]]:
    """Take out tasks whose executor kfp.local cannot run, and the inputs that read them."""
    executors = _executors(spec)
    components = spec["components"]
    tasks = spec["root"]["dag"]["tasks"]
    gone = {}
    for name, task in tasks.items():
        component = components[task["componentRef"]["name"]]
        kind = next(iter(executors.get(component.get("executorLabel"), {"dag": None})))
        if kind not in RUNNABLE_EXECUTORS:
            gone[name] = kind
    stand_ins: list[StandIn] = []
    for name, kind in sorted(gone.items()):
        readers, also_gone = [], []
        for reader, task in tasks.items():
            artifacts = task.get("inputs", {}).get("artifacts", {})
            for key, source in list(artifacts.items()):
                if source.get("taskOutputArtifact", {}).get("producerTask") != name:
                    continue
                if reader in gone:
                    also_gone.append(reader)
                    continue
                del artifacts[key]
                definitions = components[task["componentRef"]["name"]]["inputDefinitions"]
                definitions["artifacts"].pop(key, None)
                readers.append(f"{reader}.{key}")
            if reader not in gone and name in task.get("dependentTasks", []):
                task["dependentTasks"].remove(name)
        if readers:
            instead = ("rehearsed as a first run, where it finds nothing: no input for "
                       + ", ".join(readers))
        elif also_gone:
            instead = f"read only by {', '.join(also_gone)}, which is not run either"
        else:
            instead = "nothing reads its output"
        stand_ins.append(StandIn(name, f"a {kind} node, which kfp.local cannot execute",
                                 instead))
    for name in gone:
        del tasks[name]
    return spec, stand_ins


def localize(spec: dict, *, paths: dict[str, tuple[str, str]], production_beam: list[str],
             local_beam_args: list[str]) -> LocalSpec:
    """The rehearsal's copy of `spec` (the original is left as it is)."""
    spec = copy.deepcopy(spec)
    spec, replaced = localize_paths(spec, paths)
    spec, beam = local_beam(spec, production_beam, local_beam_args)
    spec, stand_ins = stand_in_for_unrunnable(spec)
    return LocalSpec(spec, replaced + beam, stand_ins + lifecycle_hooks(spec))


def string_constants(spec: dict) -> Iterator[tuple[str, str]]:
    """(task, string) for every string a task is given, JSON-encoded ones opened up."""
    for name, task in spec["root"]["dag"]["tasks"].items():
        for parameter in task.get("inputs", {}).get("parameters", {}).values():
            value = parameter.get("runtimeValue", {}).get("constant")
            yield from ((name, s) for s in _strings(value))
    for label, executor in _executors(spec).items():
        for arg in executor.get("container", {}).get("args", []):
            yield from ((label.removesuffix("_executor"), s) for s in _strings(arg))


def _strings(value) -> Iterator[str]:
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in "[{":
            try:
                yield from _strings(json.loads(text))
                return
            except json.JSONDecodeError:
                pass
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


def referenced_paths(spec: dict) -> list[tuple[str, str]]:
    """(task, path) for every absolute local path or remote URI a task is given."""
    found = []
    for task, text in string_constants(spec):
        for token in text.split():
            path = token.split("=", 1)[1] if token.startswith("--") and "=" in token else token
            if path.startswith(("/", "gs://", "s3://")) and "\n" not in path and len(path) > 1:
                found.append((task, path))
    return sorted(set(found))
