"""Small tables and their profiles, made once per session: TFDV's statistics of a table take
a second or two (one Beam pipeline per pass), so each table is profiled once."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROWS = 120


def write_csv(path: Path, columns: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(columns).to_csv(path, index=False)
    return path


def mixed_columns(rows: int = ROWS) -> dict:
    """One column of every kind `mlops new` tells apart, and a yes/no label."""
    rng = np.random.RandomState(0)
    price = rng.uniform(1, 100, rows).round(2).astype(object)
    price[[3, 40, 77]] = None  # gaps in a float column
    colour = rng.choice(["red", "green", "blue"], rows).astype(object)
    colour[[5, 9]] = None
    words = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing"]
    return {
        "Price ($)": price,  # renamed: price
        "count": rng.randint(0, 1000, rows),  # integers, many values
        "colour": colour,  # few strings, with gaps
        "rating": rng.randint(1, 6, rows),  # integer codes 1..5
        "user": [f"u{i % 80}" for i in range(rows)],  # 80 distinct short strings
        "review": [" ".join(rng.choice(words, 8)) + f" {i}" for i in range(rows)],  # free text
        "row_id": np.arange(rows),  # a different integer in every row
        "code": [f"c{i}" for i in range(rows)],  # a different string in every row
        "country": ["NL"] * rows,  # one value in every row
        "empty": [None] * rows,  # no value at all
        "leak": rng.uniform(0, 1, rows),  # excluded with --exclude
        "ticket": rng.randint(0, 50, rows),  # the --id column
        "label": rng.choice(["yes", "no"], rows, p=[0.3, 0.7]),
    }


@pytest.fixture(scope="session")
def mixed(tmp_path_factory):
    """(prepared data, profile) of the mixed table: --exclude leak --id ticket."""
    from framework.scaffold import data, profile

    folder = tmp_path_factory.mktemp("mixed")
    prepared = data.prepare(write_csv(folder / "mixed.csv", mixed_columns()), folder / "data")
    label, exclude, id_column = profile.resolve_columns(prepared, "label", ["leak"], "ticket")
    return prepared, profile.profile(prepared, label=label, exclude=exclude, id_column=id_column)


@pytest.fixture(scope="session")
def codes(tmp_path_factory):
    """(prepared data, profile) of a table whose label is an integer class 0, 1 or 2."""
    from framework.scaffold import data, profile

    rng = np.random.RandomState(1)
    y = rng.randint(0, 3, ROWS)
    folder = tmp_path_factory.mktemp("codes")
    path = write_csv(folder / "codes.csv", {"x": y + rng.normal(0, 0.3, ROWS),
                                            "z": rng.normal(0, 1, ROWS), "y": y})
    prepared = data.prepare(path, folder / "data")
    return prepared, profile.profile(prepared, label="y")


@pytest.fixture(scope="session")
def numbers(tmp_path_factory):
    """(prepared data, profile) of a table whose label is a number with many values."""
    from framework.scaffold import data, profile

    rng = np.random.RandomState(2)
    x = rng.normal(0, 1, ROWS)
    folder = tmp_path_factory.mktemp("numbers")
    path = write_csv(folder / "numbers.csv", {
        "x": x, "group": rng.choice(["a", "b"], ROWS), "y": 50 + 10 * x + rng.normal(0, 1, ROWS)})
    prepared = data.prepare(path, folder / "data")
    return prepared, profile.profile(prepared, label="y")
