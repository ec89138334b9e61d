"""A component failing in a pipeline package's own code, on the local runner: the terminal's
one line names the user's file and line, and the run's log holds the whole traceback."""

import json
import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT, copy_project, workspace_env

pytestmark = pytest.mark.integration

RAISING_LINE = '    label = inputs["label"]  # no such feature: KeyError while Transform traces\n'


@pytest.fixture
def project(tmp_path):
    """A project root holding a second package, `tips` (taxi's copy), whose preprocessing_fn
    asks for a feature the data does not have."""
    root = copy_project(tmp_path)
    tips = root / "pipelines" / "tips"
    shutil.copytree(root / "pipelines" / "taxi", tips)
    for path in [*tips.glob("*.py"), tips / "settings.yaml"]:
        text = path.read_text().replace("pipelines.taxi", "pipelines.tips")
        path.write_text(text.replace("    name: taxi\n", "    name: tips\n"))
    preprocessing = tips / "preprocessing.py"
    text = preprocessing.read_text()
    anchor = "    outputs = {}\n"
    assert anchor in text
    preprocessing.write_text(text.replace(anchor, anchor + RAISING_LINE, 1))
    return root


def test_failure_in_user_code_names_file_and_line_and_logs_the_traceback(project, tmp_path):
    preprocessing = project / "pipelines" / "tips" / "preprocessing.py"
    line = preprocessing.read_text().splitlines().index(RAISING_LINE.rstrip("\n")) + 1
    where = f"pipelines/tips/preprocessing.py:{line}"
    env = workspace_env(tmp_path / "work", MLOPS_PROJECT_ROOT=str(project), PYTHONPATH=str(ROOT))
    out = tmp_path / "result.json"
    proc = subprocess.run([sys.executable, "-m", "framework", "run", "--pipeline", "tips",
                           "--json", str(out)], cwd=project, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode != 0, proc.stdout[-2000:]
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith(f"error: Transform failed: KeyError: 'label' at {where} "), error

    log = re.search(r"\(full log: (.+\.log)\)", error).group(1)
    assert log.startswith(str(tmp_path / "work" / "pipeline_root" / "logs"))
    text = open(log, encoding="utf-8").read()
    assert "Traceback (most recent call last)" in text
    assert f"Transform failed in the pipeline package at {where}:" in text
    assert "KeyError: 'label'" in text

    result = json.loads(out.read_text())
    [transform] = [c for c in result["components"] if c["name"] == "Transform"]
    assert transform["state"] == "failed" and where in transform["error"]
