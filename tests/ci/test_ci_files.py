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
from framework.ci.stages import jenkins_commands as jenkins_run_order
from tests.ci.ci_files import (
    cloudbuild_commands,
    jenkins_commands,
    jenkins_stage_block,
    jenkins_stage_names,
    sh_steps_with_their_stages,
)

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
    assert cloudbuild == commands()
    assert jenkins == jenkins_run_order()
    # The one difference: after the approval Jenkins is on a fresh agent and sets up again.
    setup = commands()[0]
    assert jenkins[-2] == setup and jenkins[:-2] + jenkins[-1:] == commands()
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
                  "input {", "when {", "tag pattern: 'v*'", "parallel {"):
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


# --- the approval: on no executor, with a timeout, by the approvers in ci.yaml ---------

def _jenkinsfile() -> str:
    return (ROOT / "Jenkinsfile").read_text()


def test_jenkins_pipeline_takes_no_agent_at_the_top():
    lines = _jenkinsfile().splitlines()
    top = lines[lines.index("pipeline {") + 1]
    assert top == "    agent none"
    # The only agents are stage-level ones (12 spaces: inside stages { stage(...) {).
    agents = [line for line in lines if line.strip().startswith("agent ")]
    assert all(line.startswith("            agent ") for line in agents if line != top)


def test_every_shell_step_runs_inside_a_stage_with_an_agent():
    found = sh_steps_with_their_stages(_jenkinsfile())
    assert len(found) == len(jenkins_run_order())
    for sh, stages in found:
        assert any(name.endswith("[agent any]") for name in stages), (sh, stages)


def test_the_approval_waits_outside_any_agent_with_a_timeout_and_the_approvers():
    config = load_config(ROOT)
    block = [line.strip() for line in jenkins_stage_block(_jenkinsfile(), "Approve deploy")]
    assert "agent none" in block and "agent any" not in block
    # Stage-level input (not the `input` step inside `steps`): it runs before any agent.
    assert "input {" in block
    assert not any(line.startswith("input message:") for line in block)
    hours = config.jenkins.approval_timeout_hours
    assert f"timeout(time: {hours}, unit: 'HOURS')" in block
    assert block.index("options {") < block.index("input {")
    assert f"submitter '{','.join(config.jenkins.approvers)}'" in block
    # Skipped stages ask nobody: `when` is evaluated before the input; TARGET_ENV=none
    # (nothing to deploy) skips it.
    assert block.index("beforeInput true") < block.index("input {")
    assert "expression { params.TARGET_ENV != 'none' }" in block
    for sh, stages in sh_steps_with_their_stages(_jenkinsfile()):
        assert "Approve deploy" not in stages, sh


def test_the_approval_stage_sits_between_the_working_agent_and_the_deploy_agent():
    text = _jenkinsfile()
    work = jenkins_stage_block(text, "Test, build and compile")
    assert work[1].strip() == "agent any"
    inside = jenkins_stage_names("\n".join(work))
    assert {"Setup", "Plan", "Test", "Build", "Rehearse", "Compile"} <= set(inside)
    assert "Approve deploy" not in inside and "Deploy" not in inside
    deploy = [line.strip() for line in jenkins_stage_block(text, "Deploy")]
    assert deploy[1] == "agent any"
    # Routing is checked before an agent is taken; the fresh workspace is set up first.
    assert "beforeAgent true" in deploy
    assert jenkins_commands("\n".join(deploy)) == [commands()[0], commands()[-1]]


def test_approvers_and_approval_timeout_come_from_ci_yaml():
    config = load_config(ROOT)
    config.jenkins.approvers = ["alice", "release managers"]
    config.jenkins.approval_timeout_hours = 6
    text = render_jenkinsfile(config)
    block = [line.strip() for line in jenkins_stage_block(text, "Approve deploy")]
    assert "submitter 'alice,release managers'" in block
    assert "timeout(time: 6, unit: 'HOURS')" in block
    config.jenkins.approvers = []
    block = jenkins_stage_block(render_jenkinsfile(config), "Approve deploy")
    assert not any("submitter '" in line for line in block)


@pytest.mark.parametrize("value, message", [
    ("approvers: mlops-release", "expected a list of strings"),
    ("approvers: ['alice,bob']", "no commas"),
    ("approval_timeout_hours: 0", "must be a positive number"),
])
def test_bad_approval_settings_in_ci_yaml_are_refused(tmp_path, value, message):
    from framework.core.errors import UserError

    text = (ROOT / "ci.yaml").read_text()
    key = value.split(":")[0]
    line = next(x for x in text.splitlines() if x.startswith(f"  {key}:"))
    (tmp_path / "ci.yaml").write_text(text.replace(line, f"  {value}"))
    with pytest.raises(UserError, match=message):
        load_config(tmp_path)


def test_without_an_approval_route_every_step_stays_on_the_one_agent():
    config = load_config(ROOT)
    for route in config.routes:
        route.approval = False
    text = render_jenkinsfile(config)
    assert "Approve deploy" not in jenkins_stage_names(text)
    assert jenkins_commands(text) == jenkins_run_order(approval=False) == commands()
    inside = jenkins_stage_names("\n".join(jenkins_stage_block(text, "Test, build and compile")))
    assert "Deploy" in inside


@needs_groovy
@pytest.mark.parametrize("approval", [True, False])
def test_rendered_jenkinsfiles_with_other_approval_settings_parse(tmp_path, approval):
    config = load_config(ROOT)
    config.jenkins.approvers = ["o'brien", "release managers"]
    for route in config.routes:
        route.approval = route.approval and approval
    path = tmp_path / "Jenkinsfile"
    path.write_text(render_jenkinsfile(config))
    proc = _groovy_parse(path)
    assert proc.returncode == 0, proc.stderr[-2000:]


# --- pushing: only a commit whose route deploys ----------------------------------------

def test_neither_file_pushes_outside_the_compile_stage():
    config = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
    assert "images" not in config  # Cloud Build would push those after every build
    for listed in (jenkins_commands(_jenkinsfile()), cloudbuild_commands(config)):
        by_stage = {argv[2]: argv for argv in listed if argv[:2] == ["mlops", "ci"]}
        assert "--no-push" in by_stage["build"]
        # compile pushes as the plan says: only for a commit that deploys
        assert "--push" not in by_stage["compile"] and "--no-push" not in by_stage["compile"]
        assert not any("--push" in argv for argv in listed)
    compile_stage = [line.strip() for line in jenkins_stage_block(_jenkinsfile(), "Compile")]
    assert "when {" in compile_stage  # and Jenkins only starts it for a routed commit
