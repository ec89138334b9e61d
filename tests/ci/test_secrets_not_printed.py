"""No CI stage prints a secret: the chain plan, test, build, compile (with its push) and
deploy (a passing and a failing run) runs against the doubles with known secret values, and
neither its output nor any file it writes holds one of them.

The secrets are the ones the CI files hand to the stages: the KFP bearer token (KFP_TOKEN),
the registry login (REGISTRY_USER / REGISTRY_PASSWORD, and the Docker auth made of them)
and a service-account key file (GOOGLE_APPLICATION_CREDENTIALS). The rehearsal needs a
Docker API and is left out (tests/ci/test_end_to_end.py runs it, marked `container`).
"""

from __future__ import annotations

import base64
import json
import os
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from framework.ci.stages import OUT
from tests.ci.test_end_to_end import develop_build_env, git

ROOT = Path(__file__).resolve().parents[2]
kfp_double = pytest.importorskip(
    "tests.production.conftest",
    reason="the Kubeflow API double of the production tests (tests/production) is missing")

KFP_TOKEN = "kfp-tok-3c41f0e2-never-print"
REGISTRY_USER = "robot-ci"
REGISTRY_PASSWORD = "reg-pw-9a7d55b1-never-print"
KEY_ID = "sa-key-id-51c2e0aa-never-print"
PRIVATE_KEY = "MIIsa-private-7e1b06c4-never-print"
SECRETS = (KFP_TOKEN, REGISTRY_PASSWORD, KEY_ID, PRIVATE_KEY,
           base64.b64encode(f"{REGISTRY_USER}:{REGISTRY_PASSWORD}".encode()).decode())


class FakeDocker:
    """A Docker client whose push reads the credentials the way the engine would."""

    def __init__(self):
        self.pushed: list[str] = []
        self.auths: list[dict] = []
        self.api = self

    def push(self, repository, tag=None, stream=True, decode=True):
        config = Path(os.environ["DOCKER_CONFIG"], "config.json")
        self.auths.append(json.loads(config.read_text())["auths"])
        self.pushed.append(f"{repository}:{tag}")
        yield {"status": f"The push refers to repository [{repository}]"}
        yield {"status": "Pushed", "id": "5f70bf18a086", "progressDetail": {}}
        yield {"status": f"{tag}: digest: sha256:{'0' * 64} size: 1234"}


@pytest.fixture
def kfp():
    state = kfp_double.KfpState()
    server = ThreadingHTTPServer(("127.0.0.1", 0), kfp_double.make_handler(state))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()


def service_account_key(folder: Path) -> Path:
    key = folder / "sa-key.json"
    key.write_text(json.dumps({
        "type": "service_account", "project_id": "portable-mlops-dev",
        "private_key_id": KEY_ID,
        "private_key": f"-----BEGIN PRIVATE KEY-----\n{PRIVATE_KEY}\n-----END PRIVATE KEY-----\n",
        "client_email": "ci@portable-mlops-dev.iam.gserviceaccount.com",
        "token_uri": "http://127.0.0.1:9/token"}))
    return key


def fake_run_build(ctx, settings, *, push, ca_bundle, manifest_path):
    """The build without an engine: the manifest `mlops ci build --no-push` writes."""
    refs = [f"{settings.image.repository}:{tag}" for tag in (ctx.commit, ctx.version_tag)]
    manifest = {"image": refs[0], "images": refs, "commit": ctx.commit,
                "version_tag": ctx.version_tag, "pushed": push}
    Path(manifest_path).write_text(json.dumps(manifest))
    print(f"build: {refs[0]} (fake engine)")
    return manifest


def stage_environment(monkeypatch, kfp_url: str, secrets_dir: Path) -> None:
    """Jenkins building branch develop (dev, on Kubeflow), with the credentials bound."""
    env = develop_build_env(ROOT, kfp_url, secrets_dir / "store", KFP_TOKEN=KFP_TOKEN,
                            REGISTRY_USER=REGISTRY_USER, REGISTRY_PASSWORD=REGISTRY_PASSWORD,
                            GOOGLE_APPLICATION_CREDENTIALS=str(service_account_key(secrets_dir)))
    for name in list(os.environ):
        if name not in env:
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def run_chain(out: Path, tiny: Path, state, capfd) -> dict[str, tuple[int, str]]:
    """Each stage as the CI files call it (writing to `out`): stage -> (exit code, output)."""
    from framework.cli import main

    chain = [
        ("plan", ["--env", "auto", "--output", f"{out}/plan.json", "--json"]),
        ("test", ["--junit", f"{out}/junit.xml", "--lint", str(tiny), str(tiny)]),
        ("build", ["--manifest", f"{out}/build-manifest.json", "--no-push"]),
        ("compile", ["--manifest", f"{out}/build-manifest.json", "--output", str(out)]),
        ("deploy", ["--run", "--wait", "--poll", "0.1"]),
        ("deploy-failing", ["--run", "--wait", "--poll", "0.1"]),
    ]
    seen = {}
    for name, args in chain:
        if name == "deploy-failing":
            state.run_states = ["RUNNING", "FAILED"]
            state.run_error = "Trainer: loss is NaN"
        code = main(["ci", name.split("-")[0], *args])
        captured = capfd.readouterr()
        seen[name] = (code, captured.out + captured.err)
    return seen


def written_files(*folders: Path, leave_out: Path) -> dict[Path, str]:
    files = {}
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file() and path != leave_out:
                files[path] = path.read_bytes().decode("utf-8", errors="replace")
    return files


def test_no_stage_prints_or_writes_a_secret(kfp, tmp_path, monkeypatch, capfd):
    import framework.ci.build as build
    import framework.container.client as client

    url, state = kfp
    out, secrets_dir, tiny = tmp_path / "out", tmp_path / "ci", tmp_path / "tiny"
    for folder in (out, secrets_dir, tiny):
        folder.mkdir()
    (tiny / "test_tiny.py").write_text("def test_adds():\n    assert 1 + 1 == 2\n")
    docker = FakeDocker()
    monkeypatch.setattr(build, "run_build", fake_run_build)
    monkeypatch.setattr(client, "docker_client", lambda *a, **k: docker)
    stage_environment(monkeypatch, url, secrets_dir)

    seen = run_chain(out, tiny, state, capfd)

    codes = {name: code for name, (code, _text) in seen.items()}
    assert codes == {"plan": 0, "test": 0, "build": 0, "compile": 0, "deploy": 0,
                     "deploy-failing": 4}, {n: t[-1500:] for n, (_c, t) in seen.items()}
    # The secrets were in use: the push logged in with them, the KFP calls carried the token.
    commit = git(ROOT, "rev-parse", "HEAD")
    assert docker.pushed and docker.auths[0]["europe-west4-docker.pkg.dev"]["auth"] == SECRETS[-1]
    assert f"Bearer {KFP_TOKEN}" in state.authorization
    assert "loss is NaN" in seen["deploy-failing"][1]
    # deploy always works in the project's .mlops/ci/out/deploy (OUT); the rest in `out`.
    deploy_dir = ROOT / OUT / "deploy"
    files = written_files(out, secrets_dir, tiny, deploy_dir,
                          leave_out=secrets_dir / "sa-key.json")
    assert deploy_dir / "deploy.json" in files
    assert any(p.name == "compiled.json" and commit in str(p) for p in files)
    for secret in SECRETS:
        for name, (_code, text) in seen.items():
            assert secret not in text, f"`mlops ci {name}` printed a secret"
        for path, text in files.items():
            assert secret not in text, f"{path} holds a secret"
