"""Every pipeline package's module files load the way TFX's container entrypoint loads them.

On Kubeflow and Vertex, Transform, Tuner and Trainer import the user's module file with
`tfx.utils.import_utils.import_func_from_source`, which executes the file under a made-up
module name and without `__file__`. The local runner imports the same files another way
(from a wheel), so a module that only works there passes every local test and fails in
production. Each load here runs in a fresh interpreter, outside the package's folder, with
nothing of the package on sys.path: exactly what the entrypoint has.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The functions TFX's executors look up in a module file.
ENTRY_POINTS = ("preprocessing_fn", "run_fn", "tuner_fn", "stats_options_updater_fn")

LOAD = """
import os, sys
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
from tfx.utils import import_utils
path, name = sys.argv[1], sys.argv[2]
fn = import_utils.import_func_from_source(path, name)
print("loaded", fn.__name__, "from", fn.__module__)
"""


def _module_files() -> list[tuple[Path, str]]:
    found = []
    for path in sorted((ROOT / "pipelines").glob("*/*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        found += [(path, name) for name in ENTRY_POINTS if name in names]
    return found


MODULE_FILES = _module_files()


def test_every_pipeline_package_has_module_files_to_check():
    packages = {path.parent.name for path, _ in MODULE_FILES}
    expected = {p.name for p in (ROOT / "pipelines").iterdir() if (p / "settings.yaml").exists()}
    assert packages == expected


@pytest.mark.parametrize("path,function", MODULE_FILES,
                         ids=[f"{p.parent.name}/{p.name}:{f}" for p, f in MODULE_FILES])
def test_module_file_loads_through_tfx_import_func_from_source(path, function, tmp_path):
    # Not the project root and not the package folder: neither is on the entrypoint's path.
    env = {"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3", "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", LOAD, str(path), function], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"loaded {function} from user_module_" in proc.stdout
