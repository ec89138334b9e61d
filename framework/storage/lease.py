"""A lock that holds across processes and hosts: a lease object next to the state it guards.

- Local folder: an OS file lock (flock). The kernel releases it when the holder dies, so it
  needs no expiry; it holds for the processes of one machine, which is all a local folder
  is shared by.
- gs://: an object created only if absent (`if_generation_match=0`: the store refuses a
  second create, atomically), holding who holds it and until when. The holder renews it
  from a background thread every third of its lifetime; a holder that dies stops renewing,
  and once the lease has expired the next process deletes it (again with a generation
  precondition, so that two of them cannot both take it over) and creates its own.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Optional

from framework.storage import files


def _me(ttl: float) -> dict:
    now = time.time()
    return {"host": socket.gethostname(), "pid": os.getpid(),
            "since": datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="seconds"),
            "expires": now + ttl}


def describe(holder: Optional[dict]) -> str:
    """'host H, pid P, since T' for messages; '?' when nobody is recorded."""
    if not holder:
        return "?"
    text = f"host {holder.get('host', '?')}, pid {holder.get('pid', '?')}"
    if holder.get("since"):
        text += f", since {holder['since']}"
    if holder.get("expires"):
        left = holder["expires"] - time.time()
        text += f", lease {'expired' if left < 0 else f'for {left:.0f} s more'}"
    return text


def read_holder(uri: str) -> Optional[dict]:
    try:
        text = files.read_text(uri)
        return json.loads(text) if text else None
    except (ValueError, OSError):
        return None


@contextmanager
def hold(uri: str, ttl: float = 600.0):
    """Yields True while this process holds the lease at `uri`, False when another does."""
    if files.is_remote(uri):
        with _hold_object(uri, ttl) as held:
            yield held
    else:
        with _hold_file(uri) as held:
            yield held


@contextmanager
def _hold_file(path: str):
    import fcntl

    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps({k: v for k, v in _me(0).items() if k != "expires"}))
            handle.flush()
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class _ObjectLease:
    def __init__(self, uri: str, ttl: float):
        self.uri, self.ttl = uri, ttl
        self.generation: Optional[int] = None
        self.lost = threading.Event()

    def _create(self) -> bool:
        from google.api_core import exceptions

        blob = files.blob(self.uri)
        try:
            blob.upload_from_string(json.dumps(_me(self.ttl)), if_generation_match=0,
                                    content_type="application/json")
        except exceptions.PreconditionFailed:
            return False
        self.generation = blob.generation
        return True

    def _take_over_expired(self) -> bool:
        """Delete the lease object when it has expired (only that generation of it)."""
        from google.api_core import exceptions

        blob = files.blob(self.uri)
        try:
            blob.reload()
            holder = json.loads(blob.download_as_text(if_generation_match=blob.generation))
        except exceptions.NotFound:
            return True  # released in between: try to create it again
        except (exceptions.PreconditionFailed, ValueError):
            return False
        if holder.get("expires", 0) > time.time():
            return False
        try:
            blob.delete(if_generation_match=blob.generation)
        except (exceptions.PreconditionFailed, exceptions.NotFound):
            return False  # someone else took it over first
        return True

    def acquire(self) -> bool:
        return self._create() or (self._take_over_expired() and self._create())

    def renew(self) -> None:
        from google.api_core import exceptions

        blob = files.blob(self.uri)
        try:
            blob.upload_from_string(json.dumps(_me(self.ttl)),
                                    if_generation_match=self.generation,
                                    content_type="application/json")
            self.generation = blob.generation
        except exceptions.PreconditionFailed:
            self.lost.set()  # taken over: this process was too slow to renew

    def release(self) -> None:
        from google.api_core import exceptions

        try:
            files.blob(self.uri).delete(if_generation_match=self.generation)
        except (exceptions.PreconditionFailed, exceptions.NotFound):
            pass


@contextmanager
def _hold_object(uri: str, ttl: float):
    lease = _ObjectLease(uri, ttl)
    if not lease.acquire():
        yield False
        return
    stop = threading.Event()

    def keep_alive():
        while not stop.wait(ttl / 3) and not lease.lost.is_set():
            lease.renew()

    renewer = threading.Thread(target=keep_alive, name="lease-renewal", daemon=True)
    renewer.start()
    try:
        yield True
    finally:
        stop.set()
        renewer.join()
        lease.release()
