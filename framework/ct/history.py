"""Every CT decision, fired or not, with its evidence, kept where the team's state is.

The store is `<ct.state_dir>` (default `<pipeline_root>/ct/`), a local folder or gs://:
- local: `history.jsonl`, one JSON object per line; appends take an exclusive file lock, so
  decisions of overlapping watchers never interleave;
- gs://: one object per decision under `history/`, named so that names sort by time (object
  storage has no append; separate objects never overwrite each other, whichever host writes).
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from datetime import datetime, timezone

from framework.storage import files


def state_dir(settings) -> str:
    return settings.ct.state_dir or files.join(settings.pipeline.pipeline_root, "ct")


def history_file(settings) -> str:
    return files.join(state_dir(settings), "history.jsonl")


def _record_dir(settings) -> str:
    return files.join(state_dir(settings), "history")


def append(settings, record: dict) -> None:
    line = json.dumps(record, sort_keys=True, default=str)
    if files.is_remote(state_dir(settings)):
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        name = f"{stamp}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.json"
        files.write_text(files.join(_record_dir(settings), name), line)
        return
    import fcntl

    path = history_file(settings)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write(line + "\n")
        handle.flush()


def _lines(settings) -> list[str]:
    if files.is_remote(state_dir(settings)):
        folder = _record_dir(settings)
        return [files.read_text(files.join(folder, name)) or ""
                for name in files.list_names(folder)]
    return (files.read_text(history_file(settings)) or "").splitlines()


def read(settings, limit: int | None = None) -> list[dict]:
    records = []
    for line in _lines(settings):
        line = line.strip()
        if line:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn line from a crash: skip it, keep the rest
    return records[-limit:] if limit else records
