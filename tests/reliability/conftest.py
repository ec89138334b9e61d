"""Helpers for the reliability tests: small bad data sets and in-process CLI runs."""

import csv
from pathlib import Path

import pytest

from tests.conftest import ROOT, taxi_csv, workspace_env

SERVED = b"the model being served"


def sample(n=300):
    with open(taxi_csv(), newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        return header, [row for _, row in zip(range(n), reader)]


def write_csv(folder: Path, header, rows) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "data.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return folder / "data.csv"


class Workspace:
    """Temporary folders for one run, with a model already 'served' that must survive."""

    def __init__(self, tmp_path: Path, monkeypatch):
        self.tmp = tmp_path
        self.data = tmp_path / "data"
        self.serving = tmp_path / "serving"
        (self.serving / "1000").mkdir(parents=True)
        (self.serving / "1000" / "saved_model.pb").write_bytes(SERVED)
        self.env = workspace_env(tmp_path, MLOPS_PIPELINE__DATA_ROOT=str(self.data))
        for key in list(__import__("os").environ):
            if key.startswith("MLOPS_"):
                monkeypatch.delenv(key)
        for key, value in self.env.items():
            if key.startswith("MLOPS_"):
                monkeypatch.setenv(key, value)
        monkeypatch.chdir(ROOT)

    def serving_untouched(self) -> bool:
        return ([p.name for p in self.serving.iterdir()] == ["1000"]
                and (self.serving / "1000" / "saved_model.pb").read_bytes() == SERVED)


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    return Workspace(tmp_path, monkeypatch)


def run_cli(capfd, *args):
    """`mlops ARGS` in this process (no TensorFlow start-up per case); (code, out, err)."""
    from framework.cli import main

    code = main(list(args))
    out, err = capfd.readouterr()
    return code, out, err


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]
