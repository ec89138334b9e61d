"""The one list of CI steps. Jenkinsfile and cloudbuild.yaml are both rendered from it.

Each step is one command line. A token "$NAME" is a CI parameter: a Jenkins build
parameter NAME, a Cloud Build user substitution _NAME (see PARAMETERS). Both files run
the steps in this order with these exact arguments (Jenkins repeats the setup after the
approval, see jenkins_commands); tests/ci/test_ci_files.py holds them to it. Change a
step here, then run `mlops ci render`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

# The stages, in order; `mlops ci <stage>` runs each one. Nothing leaves the CI machine
# before `rehearse` has run the compiled pipeline in the built image: `build` only builds,
# `compile` pushes the image and stores the spec, `deploy` uploads it.
STAGES = ("test", "build", "rehearse", "compile", "deploy")

# Where every step writes what later steps, and the CI system, pick up.
OUT = ".mlops/ci/out"
VENV = ".venv"
PLAN_FILE = f"{OUT}/plan.json"
JUNIT_FILE = f"{OUT}/junit.xml"
MANIFEST_FILE = f"{OUT}/build-manifest.json"
COMPILED_DIR = OUT
REHEARSAL_DIR = f"{OUT}/rehearsal"

# CI parameters: name -> (default, help). Jenkins: `parameters {}`; Cloud Build: `_NAME`.
PARAMETERS = {
    "PIPELINE": ("taxi", "pipeline under pipelines/ to build and deploy"),
    "TARGET_ENV": ("auto", "auto = the environment the branch or tag is routed to (ci.yaml); "
                   "none = deploy nothing; any other value must name that same environment"),
}


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    argv: tuple[str, ...]
    # Cloud Build waitFor: the steps this one needs ("-": none, start at once). Jenkins runs
    # steps that share a `parallel` group side by side, the rest one after another.
    wait_for: tuple[str, ...]
    parallel: Optional[str] = None
    # Credentials the step needs: "registry", "kfp", "gcp" (Jenkins withCredentials).
    credentials: tuple[str, ...] = ()
    junit: Optional[str] = None
    archive: Optional[str] = None
    # Runs only for a routed commit (Jenkins `when`); the command checks the plan as well.
    routed_only: bool = False
    # Preceded by an approval for environments that need one (Jenkins `input`). In Jenkins
    # the approval waits on no agent, so this step and the ones after it run on an agent
    # of their own, with the setup step first (see jenkins_commands).
    approval: bool = False

    @property
    def stage(self) -> Optional[str]:
        """The `mlops ci <stage>` this step runs, if any."""
        if self.argv[:2] == ("mlops", "ci") and self.argv[2] in STAGES:
            return self.argv[2]
        return None


_SELECT = ("--pipeline", "$PIPELINE", "--env", "$TARGET_ENV")
TEST_AND_BUILD = "Test and build"

STEPS: tuple[Step, ...] = (
    Step("setup", "Setup", ("python3", "-m", "framework.ci.bootstrap", VENV), wait_for=("-",)),
    Step("plan", "Plan", ("mlops", "ci", "plan", *_SELECT, "--output", PLAN_FILE),
         wait_for=("setup",)),
    Step("test", "Test", ("mlops", "ci", "test", *_SELECT, "--junit", JUNIT_FILE),
         wait_for=("plan",), parallel=TEST_AND_BUILD, junit=JUNIT_FILE),
    Step("build", "Build",
         ("mlops", "ci", "build", *_SELECT, "--manifest", MANIFEST_FILE, "--no-push"),
         wait_for=("plan",), parallel=TEST_AND_BUILD),
    Step("rehearse", "Rehearse",
         ("mlops", "ci", "rehearse", *_SELECT, "--manifest", MANIFEST_FILE,
          "--root", REHEARSAL_DIR),
         wait_for=("build",), archive=f"{REHEARSAL_DIR}/logs/**", routed_only=True),
    Step("compile", "Compile",
         ("mlops", "ci", "compile", *_SELECT, "--manifest", MANIFEST_FILE,
          "--output", COMPILED_DIR),
         wait_for=("rehearse",), credentials=("registry", "gcp"), archive=f"{OUT}/**",
         routed_only=True),
    Step("deploy", "Deploy", ("mlops", "ci", "deploy", *_SELECT),
         wait_for=("test", "compile"), credentials=("kfp", "gcp"), routed_only=True,
         approval=True),
)


def commands() -> list[list[str]]:
    """Every step's command line, in order, as the CI files must run them."""
    return [list(step.argv) for step in STEPS]


def jenkins_commands(approval: bool = True) -> list[list[str]]:
    """commands() as the Jenkinsfile runs them: from the approval on (when a route needs
    one), each step runs on a fresh agent, whose workspace may lack the virtualenv, so the
    setup step runs first."""
    setup = list(STEPS[0].argv)
    out: list[list[str]] = []
    approved = False
    for step in STEPS:
        approved = approved or (approval and step.approval)
        if approved:
            out.append(setup)
        out.append(list(step.argv))
    return out
