"""The pipeline package contract, for a second package beside taxi: its name is its folder,
an error in its code is one line at its file and line, only real packages are listed, and
its modules import each other by package, so two pipelines in one process never share one.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from framework.core.errors import SettingsError, UserError
from tests.conftest import copy_project

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path):
    """A project root of its own holding a copy of pipelines/ (taxi), to add packages to."""
    return copy_project(tmp_path)


def copy_taxi(project: Path, name: str, *, rename: bool = True) -> Path:
    """pipelines/<name>/, a copy of taxi; with `rename`, its name and imports made its own."""
    folder = project / "pipelines" / name
    shutil.copytree(project / "pipelines" / "taxi", folder)
    if rename:
        for path in [*folder.glob("*.py"), folder / "settings.yaml"]:
            text = path.read_text().replace("pipelines.taxi", f"pipelines.{name}")
            path.write_text(text.replace("    name: taxi\n", f"    name: {name}\n"))
    return folder


def mlops(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    work = project.parent / "work"
    environ.update(MLOPS_PROJECT_ROOT=str(project), PYTHONPATH=str(ROOT),
                   MLOPS_PIPELINE__PIPELINE_ROOT=str(work / "root"),
                   MLOPS_PIPELINE__SERVING_DIR=str(work / "serving"),
                   MLOPS_METADATA__SQLITE_PATH=str(work / "metadata.sqlite"), **env)
    return subprocess.run([sys.executable, "-m", "framework", *args], cwd=project, env=environ,
                          capture_output=True, text=True, timeout=300)


def error_line(proc: subprocess.CompletedProcess) -> str:
    """The one `error:` line of a rejected command (exit 2); anything else fails the test."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-3000:]
    return lines[0]


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


# -- 1. pipeline.name is the folder's name -------------------------------------------------

# Every command that loads a package's factory by the settings' pipeline.name: the local
# and container runners, the Kubeflow and Vertex targets (check, compile, deploy), rehearsal.
FACTORY_COMMANDS = [
    ["run"],
    ["run", "--runner", "container"],
    ["check", "--target", "kubeflow"],
    ["compile", "--target", "kubeflow"],
    ["compile", "--target", "vertex"],
    ["deploy", "--target", "vertex"],
    ["rehearse", "--target", "kubeflow"],
    ["ct", "run"],
]


@pytest.mark.parametrize("command", FACTORY_COMMANDS, ids=" ".join)
def test_a_copy_still_naming_the_original_is_rejected_by_every_command(project, command):
    copy_taxi(project, "tips", rename=False)  # settings.yaml still says name: taxi
    # No data: should the command go ahead after all, a run stops at once.
    line = error_line(mlops(project, *command, "--pipeline", "tips",
                            MLOPS_PIPELINE__DATA_ROOT=str(project / "no-data")))
    assert "pipelines/tips/settings.yaml" in line
    assert "pipelines/tips/" in line and "'taxi'" in line
    assert not (project / ".mlops").exists() and not (project.parent / "work").exists()


def test_load_settings_rejects_a_name_that_is_not_the_folder(project, monkeypatch):
    from framework.settings import load_settings

    copy_taxi(project, "tips", rename=False)
    monkeypatch.setenv("MLOPS_PROJECT_ROOT", str(project))
    with pytest.raises(SettingsError, match=r"pipelines/tips/settings.yaml: pipeline.name is "
                                            r"'taxi' but the folder is pipelines/tips/"):
        load_settings("tips", "local", environ={})
    with pytest.raises(SettingsError, match="MLOPS_PIPELINE__NAME"):
        load_settings("taxi", "local", environ={"MLOPS_PIPELINE__NAME": "other"})
    assert load_settings("taxi", "local", environ={}).pipeline.name == "taxi"


# -- 2. an import or syntax error in the package ---------------------------------------------

def test_an_exception_while_importing_is_one_line_at_the_package_file(project):
    pipeline_py = project / "pipelines" / "taxi" / "pipeline.py"
    text = pipeline_py.read_text()
    pipeline_py.write_text(text.replace("from pathlib import Path\n",
                                        "from pathlib import Path\n\nimport no_such_module_xyz\n"))
    line = error_line(mlops(project, "run"))
    where = line_of(pipeline_py, "import no_such_module_xyz")
    assert f"pipelines/taxi/pipeline.py:{where}: ModuleNotFoundError: " in line
    assert "no_such_module_xyz" in line

    verbose = mlops(project, "run", MLOPS_VERBOSE="1")  # the whole traceback, then the line
    assert verbose.returncode == 2
    assert "Traceback (most recent call last)" in verbose.stderr
    assert verbose.stderr.strip().splitlines()[-1] == line


def test_a_syntax_error_is_one_line_with_file_and_line(project):
    init = project / "pipelines" / "taxi" / "__init__.py"
    init.write_text(init.read_text() + "\ndef broken(:\n")
    line = error_line(mlops(project, "run"))
    assert line.startswith(f"error: pipelines/taxi/__init__.py:{line_of(init, 'def broken(')}: "
                           "SyntaxError: ")


@pytest.fixture
def fresh_pipelines(project, monkeypatch):
    """In this process, `pipelines` imported from `project` for the test, then as before."""
    saved = {k: v for k, v in sys.modules.items() if k == "pipelines" or k.startswith("pipelines.")}
    for key in saved:
        del sys.modules[key]
    monkeypatch.setenv("MLOPS_PROJECT_ROOT", str(project))
    monkeypatch.setattr(sys, "path", [str(project), *sys.path])
    yield project
    for key in [k for k in sys.modules if k == "pipelines" or k.startswith("pipelines.")]:
        del sys.modules[key]
    sys.modules.update(saved)


def test_errors_deeper_in_the_package_name_their_file(fresh_pipelines):
    from framework.pipeline.discovery import load_factory

    folder = fresh_pipelines / "pipelines" / "taxi"
    (folder / "helpers").mkdir()
    (folder / "helpers" / "__init__.py").write_text("VALUE = {}['missing']\n")
    (folder / "__init__.py").write_text("import pipelines.taxi.helpers\n"
                                        "def create_pipeline(settings):\n    return None\n")
    with pytest.raises(UserError, match=r"^pipelines/taxi/helpers/__init__.py:1: KeyError: "
                                        r"'missing' \(importing pipelines.taxi\)$"):
        load_factory("taxi")
    # A file the pre-import check does not read (a sub-package): Python's own SyntaxError.
    (folder / "helpers" / "__init__.py").write_text("x = = 1\n")
    with pytest.raises(UserError, match=r"^pipelines/taxi/helpers/__init__.py:1: SyntaxError"):
        load_factory("taxi")


def test_an_error_while_building_the_pipeline_is_one_line_at_its_file(fresh_pipelines):
    from framework.pipeline.discovery import load_factory

    folder = fresh_pipelines / "pipelines" / "taxi"
    (folder / "__init__.py").write_text("def create_pipeline(settings):\n"
                                        "    return settings['no such key']\n")
    with pytest.raises(UserError, match=r"^pipelines/taxi/__init__.py:2: KeyError: 'no such key' "
                                        r"\(in pipelines.taxi.create_pipeline\)$") as raised:
        load_factory("taxi")({})
    assert isinstance(raised.value.__cause__, KeyError)  # --verbose prints its traceback


# -- 3. (a component failing in the package's code: tests/integration/test_component_failure.py)

def test_a_failure_is_located_in_the_package_also_from_tfx_wheel_copies(tmp_path, monkeypatch):
    from framework.pipeline.discovery import package_location

    monkeypatch.setenv("MLOPS_PROJECT_ROOT", str(ROOT))
    folder = ROOT / "pipelines" / "taxi"
    # TFX installs a wheel of the folder's .py files into a temporary folder and runs those.
    wheel = tmp_path / "installed"
    (wheel / "tfx_user_code_transform-0.0+abc.dist-info").mkdir(parents=True)
    copy = wheel / "preprocessing.py"
    copy.write_text("\n\ndef fn(inputs):\n    return inputs['label']\n")
    namespace: dict = {}
    exec(compile(copy.read_text(), str(copy), "exec"), namespace)
    with pytest.raises(KeyError) as caught:
        namespace["fn"]({})
    assert package_location(caught.value, folder) == "pipelines/taxi/preprocessing.py:4"
    assert package_location(caught.value, ROOT / "framework") is None


# -- 4. `mlops pipelines` lists real packages only -------------------------------------------

def test_pipelines_lists_only_packages_with_settings_and_a_factory(project):
    pipelines = project / "pipelines"
    (pipelines / "notes").mkdir()
    (pipelines / "notes" / "__init__.py").write_text('"""Shared helpers."""\n')
    (pipelines / "halfdone").mkdir()
    (pipelines / "halfdone" / "__init__.py").write_text('"""Not yet."""\n')
    (pipelines / "halfdone" / "settings.yaml").write_text("base: {pipeline: {name: halfdone}}\n")
    (pipelines / "broken").mkdir()
    (pipelines / "broken" / "__init__.py").write_text('"""Broken."""\ndef create_pipeline(:\n')
    (pipelines / "broken" / "settings.yaml").write_text("base: {}\n")
    # Listed without being imported: importing this one would fail.
    tips = copy_taxi(project, "tips")
    init = tips / "__init__.py"
    init.write_text(init.read_text().replace('"""\n', '"""\n\nraise RuntimeError("imported")\n', 1))
    (pipelines / "__pycache__").mkdir(exist_ok=True)

    proc = mlops(project, "pipelines")
    assert proc.returncode == 0, proc.stderr
    assert [line.split()[0] for line in proc.stdout.splitlines()] == ["taxi", "tips"]
    assert "skipped pipelines/broken/: pipelines/broken/__init__.py:2: SyntaxError" in proc.stderr
    assert ("skipped pipelines/halfdone/: its __init__.py does not define or import "
            "create_pipeline") in proc.stderr
    assert "skipped pipelines/notes/: no settings.yaml" in proc.stderr
    assert "__pycache__" not in proc.stderr


# -- 5. modules import each other by package ----------------------------------------------

def test_taxi_imports_its_modules_by_package():
    from framework.pipeline.discovery import check_imports, find_pipeline

    check_imports(find_pipeline("taxi"))  # raises on a bare or another pipeline's import


@pytest.mark.parametrize("source,problem", [
    ("import features\n", r"'features' is this package's own module imported by its bare name"),
    ("from features import LABEL_KEY\n", r"'features' is .* from pipelines.tips import features"),
    ("from pipelines.taxi import features\n",
     r"imports pipelines.taxi, which belongs to pipeline 'taxi' \(copied from it\?\)"),
    ("from . import features\n\ndef preprocessing_fn(inputs):\n    return inputs\n",
     r"a relative import in a module file TFX loads on its own"),
])
def test_imports_that_break_a_second_pipeline_are_rejected_before_import(
        project, monkeypatch, source, problem):
    from framework.pipeline.discovery import find_pipeline, load_factory

    tips = copy_taxi(project, "tips")
    (tips / "extra.py").write_text(source)
    monkeypatch.setenv("MLOPS_PROJECT_ROOT", str(project))
    monkeypatch.setattr(sys, "path", list(sys.path))
    with pytest.raises(UserError, match=r"^pipelines/tips/extra.py:1: " + problem):
        load_factory("tips")
    assert "pipelines.tips" not in sys.modules
    assert find_pipeline("tips").problem == ""


LOAD_BOTH = textwrap.dedent("""
    import os, sys
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    from framework.pipeline.discovery import load_factory
    from tfx.components.util import udf_utils
    from tfx.utils import import_utils

    root, out = sys.argv[1], sys.argv[2]
    for name in ("taxi", "tips"):
        load_factory(name)  # as a runner does: the project root on sys.path
    labels = {}
    for name in ("taxi", "tips"):
        path = os.path.join(root, "pipelines", name, "preprocessing.py")
        # By package; as TFX's container entrypoint loads it (a file of its own, made-up
        # module name); as the local runner's TFX loads it (a wheel of the folder's files).
        by_package = __import__(f"pipelines.{name}.preprocessing", fromlist=["x"])
        by_file = import_utils.import_func_from_source(path, "preprocessing_fn")
        wheel, key = udf_utils.package_user_module_file(name, path, out)
        by_wheel = import_utils.import_func_from_module(key, "preprocessing_fn")
        labels[name] = [by_package.features.LABEL_KEY, by_file.__globals__["features"].LABEL_KEY,
                        by_wheel.__globals__["features"].LABEL_KEY]
    print(labels)
""")


def test_two_pipelines_in_one_process_each_get_their_own_sibling_modules(project, tmp_path):
    tips = copy_taxi(project, "tips")
    features = tips / "features.py"
    features.write_text(features.read_text().replace('LABEL_KEY = "tips"', 'LABEL_KEY = "tip"'))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env.update(MLOPS_PROJECT_ROOT=str(project), PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", LOAD_BOTH, str(project), str(tmp_path / "out")],
                          cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    labels = ast.literal_eval(proc.stdout.strip().splitlines()[-1])
    assert labels == {"taxi": ["tips"] * 3, "tips": ["tip"] * 3}
