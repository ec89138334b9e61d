"""Write new spans of taxi-like data, resampled from the Chicago taxi sample shipped in tfx.

    python local/generate_spans.py DATA_ROOT --rows 3000 --seed 1
        -> DATA_ROOT/span-<next>/data.csv, same distribution as the sample
    python local/generate_spans.py DATA_ROOT --rows 3000 --shift trip_miles=+8
        -> a numeric feature's mean moved (+8 added; "*3" multiplies instead)
    python local/generate_spans.py DATA_ROOT --new-category payment_type=Bitcoin:0.3
        -> 30% of rows get a categorical value the model never saw
    python local/generate_spans.py DATA_ROOT --label-rate 0.9
        -> 90% of trips are big tippers (tips > 20% of fare; the sample has about 22%)

Rows are drawn with replacement, so any size works; the same seed gives the same file.
The pipeline reads the spans with `pipeline.data_root: DATA_ROOT` and
`pipeline.input_pattern: span-{SPAN}/*.csv`.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

SAMPLE = "tfx/examples/chicago_taxi_pipeline/data/simple/data.csv"
BIG_TIP_SHARE = 0.2  # as pipelines/taxi/features.py: the label is tips > 20% of fare
INT_COLUMNS = {"trip_start_month", "trip_start_hour", "trip_start_day", "trip_start_timestamp",
               "pickup_community_area", "dropoff_community_area", "trip_seconds",
               "pickup_census_tract", "dropoff_census_tract"}


def sample_csv() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("tfx")
    return Path(list(spec.submodule_search_locations)[0]).parent / SAMPLE


def _load(source: Path):
    import pandas as pd

    # Text as it is in the file: empty cells stay empty, ints stay ints.
    return pd.read_csv(source, dtype=str, keep_default_na=False)


def _numbers(column):
    import pandas as pd

    return pd.to_numeric(column.replace("", None), errors="coerce")


def _as_text(values, integer: bool):
    import numpy as np

    present = ~np.isnan(values)
    out = np.full(values.shape, "", dtype=object)
    if integer:
        out[present] = np.round(values[present]).astype(np.int64).astype(str)
    else:
        out[present] = np.round(values[present], 4).astype(str)
    return out


def shift_numeric(frame, feature: str, change: str) -> None:
    """'+D' / '-D' adds D to every present value; '*F' multiplies by F."""
    if feature not in frame.columns:
        raise SystemExit(f"error: no column {feature!r} (columns: {', '.join(frame.columns)})")
    values = _numbers(frame[feature]).to_numpy(dtype=float)
    if change.startswith("*"):
        values = values * float(change[1:])
    else:
        values = values + float(change)
    if feature in ("trip_miles", "fare", "trip_seconds"):
        values = values.clip(min=0)  # NaN (missing) stays NaN
    frame[feature] = _as_text(values, feature in INT_COLUMNS)


def add_category(frame, feature: str, value: str, share: float, rng) -> None:
    rows = rng.random(len(frame)) < share
    frame.loc[rows, feature] = value


def set_label_rate(frame, rate: float, rng) -> None:
    """Flip as few labels as needed so that `rate` of the trips with a fare are big tippers."""
    import numpy as np

    fare = _numbers(frame["fare"]).to_numpy(dtype=float)
    tips = _numbers(frame["tips"]).fillna(0.0).to_numpy(dtype=float)
    has_fare = ~np.isnan(fare) & (fare > 0)
    positive = has_fare & (tips > fare * BIG_TIP_SHARE)
    target = int(round(rate * has_fare.sum()))
    current = int(positive.sum())
    if target > current:
        candidates = np.flatnonzero(has_fare & ~positive)
        chosen = rng.choice(candidates, size=target - current, replace=False)
        share = BIG_TIP_SHARE + 0.05 + 0.2 * rng.random(len(chosen))
        tips[chosen] = np.round(fare[chosen] * share, 2)
    elif target < current:
        chosen = rng.choice(np.flatnonzero(positive), size=current - target, replace=False)
        tips[chosen] = 0.0
    frame["tips"] = _as_text(tips, integer=False)


def next_span(data_root: Path) -> int:
    spans = [int(m.group(1)) for p in data_root.glob("span-*")
             if (m := re.fullmatch(r"span-(\d+)", p.name))]
    return max(spans, default=0) + 1


def generate_span(
    data_root: str | Path,
    rows: int,
    *,
    seed: int = 0,
    span: int | None = None,
    shifts: dict[str, str] | None = None,
    new_categories: dict[str, tuple[str, float]] | None = None,
    label_rate: float | None = None,
    source: str | Path | None = None,
    file_name: str = "data.csv",
) -> Path:
    """Write DATA_ROOT/span-N/<file_name> and return its path."""
    import numpy as np

    data_root = Path(data_root)
    rng = np.random.default_rng(seed)
    source = Path(source) if source else sample_csv()
    span = next_span(data_root) if span is None else span
    out = data_root / f"span-{span}" / file_name
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    lines = _record_lines(source)
    if lines is not None and not (shifts or new_categories or label_rate is not None):
        # Same distribution: copy sampled lines as they are (1.5M rows in about a second).
        header, records = lines
        picked = rng.integers(0, len(records), size=rows)
        tmp.write_text(header + "\n" + "\n".join(records[i] for i in picked) + "\n",
                       encoding="utf-8")
    else:
        sample = _load(source)
        frame = sample.iloc[rng.integers(0, len(sample), size=rows)].reset_index(drop=True)
        for feature, change in (shifts or {}).items():
            shift_numeric(frame, feature, change)
        for feature, (value, share) in (new_categories or {}).items():
            add_category(frame, feature, value, share, rng)
        if label_rate is not None:
            set_label_rate(frame, label_rate, rng)
        frame.to_csv(tmp, index=False)
    tmp.rename(out)  # a watcher never sees half a file
    return out


def _record_lines(source: Path):
    """(header, one line per record), or None when a quoted field spans lines."""
    import csv

    text = source.read_text(encoding="utf-8")
    header, *records = text.splitlines()
    parsed = sum(1 for _ in csv.reader(text.splitlines())) - 1
    return (header, records) if parsed == len(records) else None


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise SystemExit(f"error: {flag} expects FEATURE=VALUE, got {item!r}")
        out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_root", help="folder that holds span-N/ folders")
    parser.add_argument("--rows", type=int, default=15000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--span", type=int, default=None, help="span number (default: next)")
    parser.add_argument("--shift", action="append", default=[], metavar="FEATURE=+D|*F",
                        help="move a numeric feature: add D or multiply by F")
    parser.add_argument("--new-category", action="append", default=[],
                        metavar="FEATURE=VALUE:SHARE",
                        help="give SHARE of rows a new categorical VALUE")
    parser.add_argument("--label-rate", type=float, default=None,
                        help="share of big tippers (the label), 0..1")
    parser.add_argument("--source", default=None, help="CSV to resample (default: tfx sample)")
    parser.add_argument("--file-name", default="data.csv")
    args = parser.parse_args(argv)
    categories = {}
    for feature, spec in _pairs(args.new_category, "--new-category").items():
        value, _, share = spec.rpartition(":")
        try:
            categories[feature] = (value, float(share))
        except ValueError:
            raise SystemExit(
                f"error: --new-category expects FEATURE=VALUE:SHARE, got {spec!r}") from None
    if args.label_rate is not None and not 0 <= args.label_rate <= 1:
        raise SystemExit("error: --label-rate must be between 0 and 1")
    path = generate_span(
        args.data_root, args.rows, seed=args.seed, span=args.span,
        shifts=_pairs(args.shift, "--shift"), new_categories=categories,
        label_rate=args.label_rate, source=args.source, file_name=args.file_name,
    )
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
