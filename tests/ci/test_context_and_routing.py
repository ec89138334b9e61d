"""The CI context from Jenkins, Cloud Build and git; routing per branch, tag and changed path."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from framework.ci.context import CiContextError, ci_context, docker_tag
from framework.ci.routing import EnvNotAllowedError, load_config, make_plan
from framework.core.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
SHA = "3f6c2a9d8e1b4c7a0f2e5d8c1b4a7e0d3c6b9a21"


def jenkins_env(**extra) -> dict:
    env = {"JENKINS_URL": "https://jenkins.example/", "GIT_COMMIT": SHA, "BUILD_NUMBER": "42",
           "BUILD_ID": "42", "JOB_NAME": "portable-mlops/main", "WORKSPACE": "/ws"}
    env.update(extra)
    return env


def cloudbuild_env(**extra) -> dict:
    env = {"CI_SYSTEM": "cloudbuild", "COMMIT_SHA": SHA, "SHORT_SHA": SHA[:7],
           "BUILD_ID": "b7f1c2e4-0d3a", "PROJECT_ID": "portable-mlops-dev",
           "BRANCH_NAME": "", "TAG_NAME": ""}
    env.update(extra)
    return env


def _same_names(ctx) -> tuple:
    return ctx.commit, ctx.short_sha, ctx.branch, ctx.tag, ctx.version_tag


def test_branch_build_gives_the_same_context_in_jenkins_and_cloud_build():
    jenkins = ci_context(jenkins_env(BRANCH_NAME="develop"), ROOT)
    cloud = ci_context(cloudbuild_env(BRANCH_NAME="develop"), ROOT)
    assert _same_names(jenkins) == _same_names(cloud) == (SHA, SHA[:7], "develop", None, SHA[:7])
    assert (jenkins.system, jenkins.build_id) == ("jenkins", "42")
    assert (cloud.system, cloud.build_id) == ("cloudbuild", "b7f1c2e4-0d3a")


def test_tag_build_gives_the_same_context_in_jenkins_and_cloud_build():
    # A multibranch tag build sets BRANCH_NAME to the tag's name too: it is not a branch.
    jenkins = ci_context(jenkins_env(BRANCH_NAME="v1.4.0", TAG_NAME="v1.4.0"), ROOT)
    cloud = ci_context(cloudbuild_env(TAG_NAME="v1.4.0"), ROOT)
    assert _same_names(jenkins) == _same_names(cloud) == (SHA, SHA[:7], None, "v1.4.0", "v1.4.0")


def test_plain_jenkins_job_branch_loses_its_remote_prefix():
    ctx = ci_context(jenkins_env(GIT_BRANCH="origin/main"), ROOT)
    assert ctx.branch == "main"


def test_jenkins_previous_successful_commit_is_the_diff_base():
    ctx = ci_context(jenkins_env(BRANCH_NAME="main", GIT_PREVIOUS_SUCCESSFUL_COMMIT="a" * 40),
                     ROOT)
    assert ctx.base_commit == "a" * 40


def test_outside_ci_the_context_comes_from_git(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e"]
    subprocess.run(git[:3] + ["init", "-q", "-b", "feature/x"], check=True)
    (repo / "a.txt").write_text("a")
    subprocess.run(git + ["add", "a.txt"], check=True)
    subprocess.run(git + ["commit", "-qm", "a"], check=True)
    head = subprocess.run(git + ["rev-parse", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    ctx = ci_context({}, repo)
    assert (ctx.system, ctx.commit, ctx.branch, ctx.tag, ctx.build_id) == (
        "local", head, "feature/x", None, "local")
    subprocess.run(git + ["tag", "v2.0.0"], check=True)
    assert ci_context({}, repo).version_tag == "v2.0.0"


def test_no_commit_anywhere_is_a_clear_error(tmp_path):
    with pytest.raises(CiContextError, match="GIT_COMMIT"):
        ci_context({"CI_SYSTEM": "jenkins"}, tmp_path)


def test_branch_names_become_valid_image_tags():
    assert docker_tag("feature/new model") == "feature-new-model"
    assert docker_tag("v1.2.3") == "v1.2.3"


# --- routing -------------------------------------------------------------------------

RUNNERS = {"dev": "kubeflow", "staging": "vertex", "prod": "vertex", "test": "local",
           "local": "local"}


def plan_for(environ: dict, changed=None, requested=None):
    config = load_config(ROOT)
    ctx = ci_context(environ, ROOT)
    return make_plan(config, ctx, pipeline="taxi", requested_env=requested, changed=changed,
                     environ={}, runner_of=RUNNERS.get)


@pytest.mark.parametrize("environ, env, approval", [
    (jenkins_env(BRANCH_NAME="develop"), "dev", False),
    (jenkins_env(BRANCH_NAME="main"), "staging", False),
    (jenkins_env(BRANCH_NAME="v1.0.0", TAG_NAME="v1.0.0"), "prod", True),
    (cloudbuild_env(TAG_NAME="v1.0.0"), "prod", True),
])
def test_routed_refs_run_every_stage_in_their_environment(environ, env, approval):
    plan = plan_for(environ, changed=["framework/cli.py"])
    assert (plan.env, plan.stages, plan.approval, plan.push) == (
        env, ["test", "build", "rehearse", "compile", "deploy"], approval, True)


def test_feature_branch_is_tested_and_built_but_not_deployed():
    plan = plan_for(jenkins_env(BRANCH_NAME="feature/faster-transform"), changed=["a.py"])
    assert plan.env is None
    assert plan.stages == ["test", "build"]
    assert "no route" in plan.why_env


def test_tag_not_matching_a_route_is_not_deployed():
    plan = plan_for(cloudbuild_env(TAG_NAME="experiment-3"), changed=["a.py"])
    assert plan.env is None and "deploy" not in plan.stages


def test_changes_only_in_skipped_paths_run_nothing():
    plan = plan_for(jenkins_env(BRANCH_NAME="main"), changed=["notebooks/explore.ipynb"])
    assert plan.stages == []
    assert "only skipped paths" in plan.reasons["deploy"]


def test_documentation_only_changes_run_the_test_stage_alone_for_the_site_build():
    plan = plan_for(jenkins_env(BRANCH_NAME="main"),
                    changed=["docs/ci-cd.md", "notebooks/explore.ipynb", "README.md"])
    assert plan.stages == ["test"] and plan.docs_only
    assert "tests/docs" in plan.reasons["test"]
    assert plan.reasons["deploy"] == "only documentation changed"


def test_one_code_change_among_docs_runs_everything():
    plan = plan_for(jenkins_env(BRANCH_NAME="main"),
                    changed=["docs/cicd.md", "pipelines/taxi/settings.yaml"])
    assert plan.stages == ["test", "build", "rehearse", "compile", "deploy"]


def test_unknown_changes_such_as_a_shallow_clone_skip_nothing():
    assert plan_for(jenkins_env(BRANCH_NAME="main"), changed=None).stages[-1] == "deploy"


def test_outside_ci_an_explicit_environment_overrides_the_route():
    # No CI trust boundary on a laptop: --env / MLOPS_ENV choose any environment.
    local = jenkins_env(BRANCH_NAME="feature/x", CI_SYSTEM="local")
    plan = plan_for(local, changed=["a.py"], requested="dev")
    assert plan.env == "dev" and plan.stages[-1] == "deploy"
    assert "outside CI" in plan.why_env


def test_environment_on_the_local_runner_has_nothing_to_deploy():
    local = jenkins_env(BRANCH_NAME="feature/x", CI_SYSTEM="local")
    plan = plan_for(local, changed=["a.py"], requested="test")
    assert plan.stages == ["test", "build"]
    assert plan.push is False  # nothing deploys, so nothing is pushed
    assert "local runner" in plan.reasons["deploy"]


def test_ci_yaml_can_switch_the_rehearsal_off_for_one_environment():
    import dataclasses

    config = load_config(ROOT)
    config = dataclasses.replace(config, rehearsal=dataclasses.replace(config.rehearsal,
                                                                       skip=["prod"]))
    ctx = ci_context(cloudbuild_env(TAG_NAME="v1.0.0"), ROOT)
    plan = make_plan(config, ctx, pipeline="taxi", changed=["a.py"], environ={},
                     runner_of=RUNNERS.get)
    assert plan.stages == ["test", "build", "compile", "deploy"]
    assert plan.reasons["rehearse"] == "switched off for prod (rehearsal.skip in ci.yaml)"
    develop = plan_for(jenkins_env(BRANCH_NAME="develop"), changed=["a.py"])
    assert "rehearse" in develop.stages


def test_an_unknown_key_under_rehearsal_in_ci_yaml_is_refused(tmp_path):
    import shutil

    shutil.copy(ROOT / "ci.yaml", tmp_path / "ci.yaml")
    text = (tmp_path / "ci.yaml").read_text().replace("  skip: []", "  skipp: [prod]")
    (tmp_path / "ci.yaml").write_text(text)
    with pytest.raises(UserError, match="skipp"):
        load_config(tmp_path)


def test_outside_ci_the_image_is_not_pushed_by_default(tmp_path):
    config = load_config(ROOT)
    ctx = ci_context(cloudbuild_env(BRANCH_NAME="develop", CI_SYSTEM="local"), ROOT)
    plan = make_plan(config, ctx, pipeline="taxi", changed=None,
                     environ={"MLOPS_ENV": "dev"}, runner_of=RUNNERS.get)
    assert ctx.system == "local"
    assert plan.env == "dev" and plan.push is False


def test_a_route_without_branch_or_tag_is_rejected(tmp_path):
    from framework.core.errors import UserError

    (tmp_path / "ci.yaml").write_text("routes:\n  - env: dev\n")
    with pytest.raises(UserError, match="exactly one of 'branch' or 'tag'"):
        load_config(tmp_path)


def test_an_unknown_key_in_ci_yaml_is_named(tmp_path):
    from framework.core.errors import UserError

    (tmp_path / "ci.yaml").write_text("routes: []\nskip_path: [docs/**]\n")
    with pytest.raises(UserError, match="skip_path"):
        load_config(tmp_path)


# --- TARGET_ENV / _TARGET_ENV may only narrow the route --------------------------------

def plan_with(environ: dict, requested=None, mlops_env=None):
    config = load_config(ROOT)
    ctx = ci_context(environ, ROOT)
    extra = {"MLOPS_ENV": mlops_env} if mlops_env else {}
    return make_plan(config, ctx, pipeline="taxi", requested_env=requested,
                     changed=["a.py"], environ=extra, runner_of=RUNNERS.get)


@pytest.mark.parametrize("environ, requested", [
    (jenkins_env(BRANCH_NAME="feature/x"), "dev"),          # no route at all
    (cloudbuild_env(BRANCH_NAME="feature/x"), "dev"),
    (jenkins_env(BRANCH_NAME="main"), "prod"),              # routed to staging
    (cloudbuild_env(BRANCH_NAME="develop"), "staging"),
    (jenkins_env(BRANCH_NAME="main"), "test"),              # even a do-nothing environment
])
def test_in_ci_a_requested_environment_outside_the_route_is_refused(environ, requested):
    with pytest.raises(EnvNotAllowedError) as caught:
        plan_with(environ, requested)
    message = str(caught.value)
    assert "\n" not in message
    assert f"'{requested}'" in message and "may only narrow the route" in message


def test_in_ci_mlops_env_cannot_widen_the_route_either():
    with pytest.raises(EnvNotAllowedError, match="MLOPS_ENV asks for environment 'dev'"):
        plan_with(jenkins_env(BRANCH_NAME="feature/x"), mlops_env="dev")
    with pytest.raises(EnvNotAllowedError, match="routes it to staging"):
        plan_with(cloudbuild_env(BRANCH_NAME="main"), "auto", mlops_env="prod")


@pytest.mark.parametrize("requested", [None, "", "auto", " auto ", "staging"])
def test_in_ci_auto_or_the_routed_environment_itself_keeps_the_route(requested):
    plan = plan_with(jenkins_env(BRANCH_NAME="main"), requested)
    assert plan.env == "staging" and plan.stages[-1] == "deploy" and plan.push


def test_in_ci_none_narrows_a_routed_ref_to_no_deployment():
    plan = plan_with(cloudbuild_env(TAG_NAME="v1.0.0"), "none")
    assert plan.env is None and plan.stages == ["test", "build"]
    assert plan.push is False and plan.approval is False
    assert "none" in plan.why_env


def test_outside_ci_any_environment_may_still_be_chosen():
    local = cloudbuild_env(BRANCH_NAME="feature/x", CI_SYSTEM="local")
    assert plan_with(local, "prod").env == "prod"
    assert plan_with(local, mlops_env="staging").env == "staging"


@pytest.mark.parametrize("environ, requested, env, deploys", [
    (jenkins_env(BRANCH_NAME="feature/x"), "auto", None, False),
    (jenkins_env(BRANCH_NAME="develop"), "auto", "dev", True),
    (jenkins_env(BRANCH_NAME="develop"), "none", None, False),
    (cloudbuild_env(TAG_NAME="v2.0.0"), "prod", "prod", True),
    (jenkins_env(BRANCH_NAME="feature/x", CI_SYSTEM="local"), "test", "test", False),
])
def test_the_image_is_pushed_only_when_the_route_deploys(environ, requested, env, deploys):
    plan = plan_with(environ, requested)
    assert plan.env == env
    assert plan.push is deploys and ("compile" in plan.stages) is deploys
    assert ("deploy" in plan.stages) is deploys
