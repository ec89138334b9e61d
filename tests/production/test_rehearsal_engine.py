"""`mlops rehearse` without a container engine: one error line, no traceback, exit 2."""

from __future__ import annotations

import socket

import pytest

from tests.production.conftest import ROOT


@pytest.fixture
def rehearse(monkeypatch, capsys, tmp_path):
    from framework.cli import main

    for name in [n for n in __import__("os").environ if n.startswith("MLOPS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MLOPS_PROJECT_ROOT", str(ROOT))

    def call(docker_host: str):
        monkeypatch.setenv("DOCKER_HOST", docker_host)
        capsys.readouterr()
        code = main(["rehearse", "--env", "dev", "--tag", "3f2c1ab", "--root",
                     str(tmp_path / "root")])
        out = capsys.readouterr()
        return code, out.out, out.err

    return call


def test_no_engine_at_the_socket_is_one_line_naming_it(rehearse, tmp_path):
    code, out, err = rehearse(f"unix://{tmp_path}/absent.sock")
    assert code == 2
    [line] = err.strip().splitlines()
    assert line.startswith(f"error: no Docker API at unix://{tmp_path}/absent.sock")
    assert "setup-podman.sh" in line
    assert "started" not in out


def test_a_stopped_engine_is_one_line_too(rehearse, tmp_path):
    # A socket file left behind by an engine that is no longer running: connection refused.
    path = tmp_path / "stopped.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()
    code, out, err = rehearse(f"unix://{path}")
    assert code == 2
    [line] = err.strip().splitlines()
    assert line.startswith(f"error: no Docker API at unix://{path}")
    assert "Traceback" not in err and "started" not in out
