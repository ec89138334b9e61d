"""TFX's own taxi template, made runnable the way its documentation and e2e test do it.

The template switches components on by uncommenting code. This module never touches the
installed package: it copies the template with TFX's own `tfx template copy` code
(`template_handler.copy_template`, which also copies the shipped sample CSV to data/),
then, in the copy only:
- uncomments every `# components.append(` in pipeline/pipeline.py, as TFX's own
  `BaseEndToEndTest._addAllComponents` does (CsvExampleGen, StatisticsGen, SchemaGen,
  Transform, Trainer, LatestBlessedModel resolver, Evaluator, Pusher);
- switches on the "add more features" block of models/features.py (12 features instead of
  the default 3; ours reads 14), so the two pipelines do comparable work;
- sets TRAIN_NUM_STEPS / EVAL_NUM_STEPS in pipeline/configs.py;
- points OUTPUT_DIR in local_runner.py at a folder of the caller's choosing, so each run
  starts with an empty pipeline root and ML-Metadata store.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

PIPELINE_NAME = "taxi_template"
ALL_COMPONENTS = "components.append("

# LocalDagRunner logs these two lines around each component (tfx/orchestration/local).
_COMPONENT_LINE = re.compile(r"Component (\S+) is (running|finished)\.")


def copy_template(python: str, dest: Path) -> None:
    """`tfx template copy --model taxi` into dest, in a subprocess of the benchmarked Python."""
    code = (
        "import sys\n"
        "from tfx.tools.cli import labels\n"
        "from tfx.tools.cli.handler import template_handler\n"
        "template_handler.copy_template({labels.MODEL: 'taxi', "
        f"labels.PIPELINE_NAME: {PIPELINE_NAME!r}, labels.DESTINATION_PATH: sys.argv[1]}})\n"
    )
    subprocess.run([python, "-c", code, str(dest)], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def enable_all_components(source: str) -> str:
    """pipeline.py with every commented-out `components.append(` switched on."""
    enabled = source.replace("# " + ALL_COMPONENTS, ALL_COMPONENTS)
    if "# " + ALL_COMPONENTS in enabled or ALL_COMPONENTS not in enabled:
        raise RuntimeError("the template's pipeline.py changed: cannot switch components on")
    return enabled


FEATURES_MARK = "# Uncomment below to add more features to the model"
FEATURES_END = "# Number of vocabulary terms"


def enable_all_features(source: str) -> str:
    """models/features.py with the template's own "add more features" block switched on.

    Its default model reads 3 features; the block gives it the 12 the taxi example uses
    (ours reads 14), so both pipelines transform and train on comparable inputs.
    """
    start, end = source.find(FEATURES_MARK), source.find(FEATURES_END)
    if start < 0 or end < start:
        raise RuntimeError("the template's features.py changed: cannot switch features on")
    head, block, tail = source[:start], source[start:end], source[end:]
    lines = block.splitlines(keepends=True)
    enabled = [lines[0]] + [re.sub(r"^# ?", "", line) for line in lines[1:]]
    return head + "".join(enabled) + tail


def set_steps(source: str, train_steps: int, eval_steps: int) -> str:
    """configs.py with the given training and evaluation steps."""
    out, n1 = re.subn(r"^TRAIN_NUM_STEPS = \d+", f"TRAIN_NUM_STEPS = {train_steps}", source,
                      flags=re.M)
    out, n2 = re.subn(r"^EVAL_NUM_STEPS = \d+", f"EVAL_NUM_STEPS = {eval_steps}", out, flags=re.M)
    if (n1, n2) != (1, 1):
        raise RuntimeError("the template's configs.py changed: cannot set the training steps")
    return out


def set_output_dir(source: str, output_dir: str) -> str:
    out, n = re.subn(r"^OUTPUT_DIR = .*$", f"OUTPUT_DIR = {output_dir!r}", source, flags=re.M)
    if n != 1:
        raise RuntimeError("the template's local_runner.py changed: cannot set OUTPUT_DIR")
    return out


def _edit(path: Path, change) -> None:
    path.write_text(change(path.read_text(encoding="utf-8")), encoding="utf-8")


def prepare(python: str, dest: Path, *, train_steps: int, eval_steps: int,
            data_csv: Path | None = None) -> Path:
    """An enabled copy of the template in dest; returns its local_runner.py.

    data_csv: use this file instead of the copied sample (same columns).
    """
    copy_template(python, dest)
    _edit(dest / "pipeline" / "pipeline.py", enable_all_components)
    _edit(dest / "pipeline" / "configs.py", lambda s: set_steps(s, train_steps, eval_steps))
    _edit(dest / "models" / "features.py", enable_all_features)
    if data_csv is not None:
        (dest / "data" / "data.csv").unlink()
        (dest / "data" / "data.csv").symlink_to(Path(data_csv).resolve())
    return dest / "local_runner.py"


def runner_for_output(runner: Path, output_dir: Path) -> Path:
    """A copy of local_runner.py (next to it, same imports) writing under output_dir."""
    out = runner.with_name(f"local_runner_{output_dir.name}.py")
    out.write_text(set_output_dir(runner.read_text(encoding="utf-8"), str(output_dir)),
                   encoding="utf-8")
    return out


def component_seconds(stamped) -> dict[str, float]:
    """Per-component seconds from (seconds, line) pairs of a run's log (running -> finished)."""
    started: dict[str, float] = {}
    out: dict[str, float] = {}
    for when, line in stamped:
        match = _COMPONENT_LINE.search(line)
        if not match:
            continue
        name, what = match.groups()
        if what == "running":
            started[name] = when
        elif name in started:
            out[name] = round(when - started.pop(name), 2)
    return out
