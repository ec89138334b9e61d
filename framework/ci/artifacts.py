"""The artifact store: compiled pipelines and build manifests, kept under their commit.

Layout: <store>/<pipeline>/<commit>/<file>. The store is a local folder or gs://bucket/path
(settings key ci.artifact_store, per environment), read and written through
framework/storage. Deploy reads from here, so it can run on another agent, or later, than
compile.
"""

from __future__ import annotations

from pathlib import Path

from framework.core.errors import UserError
from framework.storage import files as storage


def location(store: str, pipeline: str, commit: str) -> str:
    return f"{store.rstrip('/')}/{pipeline}/{commit}"


def _check(where: str) -> None:
    if "://" in where and not storage.is_remote(where):
        raise UserError(f"artifact store {where}: only local folders and gs:// are supported")


def put(files: list[Path], where: str) -> list[str]:
    """Copy `files` (text: specs, manifests, records) into `where`; return the stored paths."""
    _check(where)
    stored = []
    for path in files:
        target = storage.join(where, Path(path).name)
        if storage.is_remote(target) or Path(target).resolve() != Path(path).resolve():
            storage.write_text(target, Path(path).read_text(encoding="utf-8"))
        stored.append(target)
    return stored


def get(where: str, name: str, dest_dir: Path) -> Path:
    """Fetch `name` from `where` into `dest_dir`; a clear error when it is not there."""
    _check(where)
    source = storage.join(where, name)
    text = storage.read_text(source)
    if text is None:
        raise UserError(f"{source}: not in the artifact store "
                        "(run `mlops ci compile` for this commit first)")
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / name
    if storage.is_remote(source) or Path(source).resolve() != target.resolve():
        target.write_text(text, encoding="utf-8")
    return target


def listing(where: str) -> list[str]:
    _check(where)
    return storage.list_names(where)
