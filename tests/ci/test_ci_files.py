"""The committed Jenkinsfile and cloudbuild.yaml: valid, generated, running the same commands."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from framework.ci.render import drift, render_jenkinsfile
from framework.ci.routing import load_config
from framework.ci.stages import STAGES, STEPS, commands
from tests.ci.ci_files import cloudbuild_commands, jenkins_commands, jenkins_stage_names

ROOT = Path(__file__).resolve().parents[2]
# SchemaStore's Cloud Build schema, kept in the repository (see schemas/README.md).
SCHEMA = Path(__file__).resolve().parent / "schemas" / "cloudbuild.schema.json"
JAVA_HOME = "/usr/lib/jvm/java-17-openjdk-amd64"


def _schema() -> dict:
    """The published Cloud Build schema (a copy in tests/ci/schemas)."""
    return json.loads(SCHEMA.read_text())


def _groovy_env() -> dict:
    env = dict(os.environ)
    if "JAVA_HOME" not in env and Path(JAVA_HOME).is_dir():
        env["JAVA_HOME"] = JAVA_HOME
    return env


def _groovy_parse(path: Path) -> subprocess.CompletedProcess:
    script = f"new GroovyShell().parse(new File('{path}'))"
    return subprocess.run(["groovy", "-e", script], capture_output=True, text=True,
                          env=_groovy_env(), timeout=120)


needs_groovy = pytest.mark.skipif(
    shutil.which("groovy") is None,
    reason="groovy not installed (apt-get install -y groovy openjdk-17-jre-headless)")


def _cloudbuild_files() -> list[Path]:
    return sorted(ROOT.glob("cloudbuild*.yaml"))


@needs_groovy
def test_jenkinsfile_parses_with_groovy():
    proc = _groovy_parse(ROOT / "Jenkinsfile")
    assert proc.returncode == 0, proc.stderr[-2000:]


@needs_groovy
def test_groovy_check_rejects_a_jenkinsfile_missing_a_brace(tmp_path):
    broken = tmp_path / "Jenkinsfile"
    text = (ROOT / "Jenkinsfile").read_text()
    broken.write_text(text[: text.rstrip().rfind("}")])
    proc = _groovy_parse(broken)
    assert proc.returncode != 0
    assert "expecting '}'" in proc.stderr or "unexpected" in proc.stderr.lower()


@pytest.mark.parametrize("path", _cloudbuild_files(), ids=lambda p: p.name)
def test_cloudbuild_file_validates_against_the_published_schema(path):
    import jsonschema

    schema = _schema()
    jsonschema.Draft7Validator(schema).validate(yaml.safe_load(path.read_text()))


def test_schema_validation_rejects_a_misspelt_step_key():
    import jsonschema

    schema = _schema()
    config = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
    config["steps"][0]["wait_for"] = config["steps"][0].pop("waitFor")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(config, schema)


def test_both_files_run_the_stage_lists_commands_in_the_same_order():
    jenkins = jenkins_commands((ROOT / "Jenkinsfile").read_text())
    cloudbuild = cloudbuild_commands(yaml.safe_load((ROOT / "cloudbuild.yaml").read_text()))
    assert jenkins == cloudbuild == commands()
    ran = [argv[2] for argv in jenkins if argv[:2] == ["mlops", "ci"] and argv[2] in STAGES]
    assert ran == list(STAGES)


def test_every_stage_is_one_jenkins_stage_and_one_cloudbuild_step():
    names = jenkins_stage_names((ROOT / "Jenkinsfile").read_text())
    ids = [s["id"] for s in yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())["steps"]]
    assert ids == [s.id for s in STEPS]
    for step in STEPS:
        assert step.title in names


def test_cloudbuild_waits_only_where_stages_cannot_overlap():
    steps = {s["id"]: s for s in yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())["steps"]}
    # test and build overlap (both wait only for the plan); the rehearsal needs the built
    # image; compile (which pushes) waits for the rehearsal; deploy needs both the tests and
    # the compiled pipeline.
    assert steps["test"]["waitFor"] == steps["build"]["waitFor"] == ["plan"]
    assert steps["rehearse"]["waitFor"] == ["build"]
    assert steps["compile"]["waitFor"] == ["rehearse"]
    assert steps["deploy"]["waitFor"] == ["test", "compile"]


def test_both_files_rehearse_after_the_build_and_before_any_upload():
    jenkins = jenkins_commands((ROOT / "Jenkinsfile").read_text())
    cloudbuild = cloudbuild_commands(yaml.safe_load((ROOT / "cloudbuild.yaml").read_text()))
    for listed in (jenkins, cloudbuild):
        stages = [argv[2] for argv in listed if argv[:2] == ["mlops", "ci"]]
        assert stages.index("build") < stages.index("rehearse") < stages.index("compile")
        rehearse = next(argv for argv in listed if argv[:3] == ["mlops", "ci", "rehearse"])
        assert "--manifest" in rehearse  # the image the build made, by its reference
        build = next(argv for argv in listed if argv[:3] == ["mlops", "ci", "build"])
        assert "--no-push" in build  # nothing leaves the machine before the rehearsal
    names = jenkins_stage_names((ROOT / "Jenkinsfile").read_text())
    assert names.index("Rehearse") == names.index("Compile") - 1


def test_cloud_build_pushes_no_image_of_its_own_on_every_build():
    # Cloud Build pushes a top-level `images:` list after every successful build, routed or
    # not, and before nothing checks it: the push belongs to the compile step alone.
    config = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
    assert "images" not in config
    compile_step = next(s for s in config["steps"] if s["id"] == "compile")
    assert compile_step["waitFor"] == ["rehearse"]


def test_jenkinsfile_has_the_required_declarative_pieces():
    text = (ROOT / "Jenkinsfile").read_text()
    for piece in ("withCredentials([", "usernamePassword(", "string(credentialsId:",
                  "file(credentialsId:", "junit ", "archiveArtifacts ", "timeout(time:",
                  "input message:", "when {", "tag pattern: 'v*'", "parallel {"):
        assert piece in text, piece


def test_approval_stage_comes_right_before_deploy():
    names = jenkins_stage_names((ROOT / "Jenkinsfile").read_text())
    assert names.index("Approve deploy") == names.index("Deploy") - 1


def test_committed_files_are_what_render_writes():
    assert drift(ROOT, load_config(ROOT)) == []


def _copy_project(tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    for name in ("framework", "pipelines"):
        shutil.copytree(ROOT / name, copy / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("ci.yaml", "Jenkinsfile", "cloudbuild.yaml", "pyproject.toml"):
        shutil.copy(ROOT / name, copy / name)
    return copy


def _mlops(copy: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env["MLOPS_PROJECT_ROOT"] = str(copy)
    return subprocess.run([sys.executable, "-m", "framework", *args], cwd=copy, env=env,
                          capture_output=True, text=True, timeout=120)


def test_verify_fails_on_a_hand_edit_of_the_jenkinsfile(tmp_path):
    copy = _copy_project(tmp_path)
    assert _mlops(copy, "ci", "verify").returncode == 0
    path = copy / "Jenkinsfile"
    path.write_text(path.read_text().replace("--junit", "--junit-xml"))
    proc = _mlops(copy, "ci", "verify")
    assert proc.returncode == 1
    assert "mlops ci render" in proc.stderr
    assert "-junit-xml" in proc.stderr  # the diff shows the edit


def test_verify_fails_on_a_hand_edit_of_cloudbuild_yaml_and_render_repairs_it(tmp_path):
    copy = _copy_project(tmp_path)
    path = copy / "cloudbuild.yaml"
    path.write_text(path.read_text().replace("timeout: 7200s", "timeout: 600s"))
    assert _mlops(copy, "ci", "verify").returncode == 1
    assert _mlops(copy, "ci", "render").returncode == 0
    assert _mlops(copy, "ci", "verify").returncode == 0


def test_routes_in_ci_yaml_become_jenkins_when_conditions(tmp_path):
    config = load_config(ROOT)
    config.routes[0].branch = "release/*"
    text = render_jenkinsfile(config)
    assert "branch pattern: 'release/*', comparator: 'GLOB'" in text
