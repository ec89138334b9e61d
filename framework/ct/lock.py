"""The CT lock: one check-and-run at a time per pipeline and store.

Held from the moment triggers are evaluated until the run it started has finished, so two
overlapping watchers (or a watcher and `mlops ct run`) can never both decide to run on the
same new data. It is an OS file lock: it is released when the process dies.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from framework.ct.history import state_dir


@contextmanager
def ct_lock(settings):
    """Yields True when this process holds the lock, False when another one does."""
    import fcntl

    path = state_dir(settings) / "ct.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def holder(settings) -> str:
    """The pid written by the current (or last) holder, for messages."""
    path = state_dir(settings) / "ct.lock"
    try:
        return path.read_text(encoding="utf-8").strip() or "?"
    except OSError:
        return "?"
