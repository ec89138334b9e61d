"""The CT lock: one check-and-run at a time per pipeline and store.

Held from the moment triggers are evaluated until the run it started has finished, so two
overlapping watchers (or a watcher and `mlops ct run`), on one host or on several sharing a
gs:// state folder, can never both decide to run on the same new data. It is a lease
(framework/storage/lease.py): a file lock in a local folder, released when the process
dies; on gs:// an object with an expiry (`ct.lock_lease_seconds`), renewed while held.
"""

from __future__ import annotations

from contextlib import contextmanager

from framework.ct.history import state_dir
from framework.storage import files, lease


def lock_uri(settings) -> str:
    return files.join(state_dir(settings), "ct.lock")


@contextmanager
def ct_lock(settings):
    """Yields True when this process holds the lock, False when another one does."""
    with lease.hold(lock_uri(settings), ttl=settings.ct.lock_lease_seconds) as held:
        yield held


def holder(settings) -> str:
    """Who holds (or last held) the lock, for messages: host, pid, since when."""
    return lease.describe(lease.read_holder(lock_uri(settings)))
