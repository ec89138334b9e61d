"""Every CT decision, fired or not, with its evidence: one JSON object per line.

The store is `<ct.state_dir>/history.jsonl` (default `<pipeline_root>/ct/`). Appends take
an exclusive file lock, so decisions of overlapping watchers never interleave.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def state_dir(settings) -> Path:
    return Path(settings.ct.state_dir or os.path.join(settings.pipeline.pipeline_root, "ct"))


def history_file(settings) -> Path:
    return state_dir(settings) / "history.jsonl"


def append(settings, record: dict) -> None:
    import fcntl

    path = history_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, sort_keys=True, default=str) + "\n"
    with open(path, "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write(line)
        handle.flush()


def read(settings, limit: int | None = None) -> list[dict]:
    path = history_file(settings)
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn line from a crash: skip it, keep the rest
    return records[-limit:] if limit else records
