"""Text objects under a local folder or a gs:// location: read, write, list, delete.

Locations are strings, never `pathlib` objects: `Path("gs://b/x")` would be a local folder
named `gs:`. On gs:// the client is google-cloud-storage's, which honours
STORAGE_EMULATOR_HOST (an emulator, in tests) as well as Google's own endpoint.
"""

from __future__ import annotations

import os
import posixpath
from functools import lru_cache
from typing import Optional

from framework.core.errors import UserError

GS = "gs://"


class StorageError(UserError):
    """The object store refused or could not be reached: the message names the location."""


def is_remote(location: str) -> bool:
    return location.startswith(GS)


def join(location: str, *parts: str) -> str:
    if is_remote(location):
        return posixpath.join(location, *parts)
    return os.path.join(location, *parts)


def split(uri: str) -> tuple[str, str]:
    """('bucket', 'object/name') of gs://bucket/object/name."""
    bucket, _, name = uri[len(GS):].partition("/")
    if not bucket:
        raise StorageError(f"{uri}: no bucket in this gs:// location")
    return bucket, name


@lru_cache(maxsize=1)
def client():
    from google.cloud import storage

    return storage.Client()


def blob(uri: str):
    bucket, name = split(uri)
    return client().bucket(bucket).blob(name)


def _failed(uri: str, exc: Exception) -> StorageError:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return StorageError(f"{uri}: {text[:300]}")


def read_text(uri: str) -> Optional[str]:
    """The object's text, or None when there is no such object."""
    if not is_remote(uri):
        try:
            with open(uri, encoding="utf-8") as handle:
                return handle.read()
        except FileNotFoundError:
            return None
    from google.api_core import exceptions

    try:
        return blob(uri).download_as_text()
    except exceptions.NotFound:
        return None
    except exceptions.GoogleAPIError as exc:
        raise _failed(uri, exc) from None


def write_text(uri: str, text: str) -> None:
    """Replace the object with `text`, whole: a reader sees the old or the new, never half."""
    if not is_remote(uri):
        os.makedirs(os.path.dirname(uri) or ".", exist_ok=True)
        temporary = f"{uri}.tmp-{os.getpid()}"
        try:
            with open(temporary, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, uri)
        except BaseException:
            if os.path.exists(temporary):
                os.remove(temporary)
            raise
        return
    from google.api_core import exceptions

    try:
        blob(uri).upload_from_string(text, content_type="application/json")
    except exceptions.GoogleAPIError as exc:
        raise _failed(uri, exc) from None


def list_names(location: str) -> list[str]:
    """The names of the objects directly under `location`, sorted."""
    if not is_remote(location):
        try:
            return sorted(n for n in os.listdir(location)
                          if os.path.isfile(os.path.join(location, n)))
        except FileNotFoundError:
            return []
    from google.api_core import exceptions

    bucket, prefix = split(location)
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    try:
        blobs = client().list_blobs(bucket, prefix=prefix, delimiter="/")
        return sorted(b.name[len(prefix):] for b in blobs)
    except exceptions.GoogleAPIError as exc:
        raise _failed(location, exc) from None


def list_tree(location: str) -> list[str]:
    """Every object under `location`, at any depth, as '/'-separated names relative to it."""
    if not is_remote(location):
        found = []
        for folder, _dirs, names in os.walk(location):
            relative = os.path.relpath(folder, location)
            found += [name if relative == "." else f"{relative}/{name}".replace(os.sep, "/")
                      for name in names]
        return sorted(found)
    from google.api_core import exceptions

    bucket, prefix = split(location)
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    try:
        return sorted(b.name[len(prefix):] for b in client().list_blobs(bucket, prefix=prefix))
    except exceptions.GoogleAPIError as exc:
        raise _failed(location, exc) from None


def signature(uri: str) -> Optional[tuple]:
    """Something that changes whenever the object is replaced; None when it does not exist."""
    if not is_remote(uri):
        try:
            st = os.stat(uri)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)
    from google.api_core import exceptions

    target = blob(uri)
    try:
        target.reload()
    except exceptions.NotFound:
        return None
    except exceptions.GoogleAPIError as exc:
        raise _failed(uri, exc) from None
    return (target.generation,)


def delete(uri: str) -> None:
    if not is_remote(uri):
        try:
            os.remove(uri)
        except FileNotFoundError:
            pass
        return
    from google.api_core import exceptions

    try:
        blob(uri).delete()
    except exceptions.NotFound:
        pass
    except exceptions.GoogleAPIError as exc:
        raise _failed(uri, exc) from None
