"""The artifact store: compiled pipelines and build manifests, kept under their commit.

Layout: <store>/<pipeline>/<commit>/<file>. The store is a local folder or gs://bucket/path
(settings key ci.artifact_store, per environment). Deploy reads from here, so it can run
on another agent, or later, than compile.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from framework.errors import UserError


def location(store: str, pipeline: str, commit: str) -> str:
    return f"{store.rstrip('/')}/{pipeline}/{commit}"


def _split_gs(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri[len("gs://"):].partition("/")
    return bucket, prefix


def put(files: list[Path], where: str) -> list[str]:
    """Copy `files` into `where` (a folder or gs:// prefix); return the stored paths."""
    stored = []
    if where.startswith("gs://"):
        from google.cloud import storage

        bucket_name, prefix = _split_gs(where)
        bucket = storage.Client().bucket(bucket_name)
        for path in files:
            name = f"{prefix}/{path.name}" if prefix else path.name
            bucket.blob(name).upload_from_filename(str(path))
            stored.append(f"gs://{bucket_name}/{name}")
        return stored
    if "://" in where:
        raise UserError(f"artifact store {where}: only local folders and gs:// are supported")
    folder = Path(where)
    folder.mkdir(parents=True, exist_ok=True)
    for path in files:
        target = folder / path.name
        shutil.copyfile(path, target)
        stored.append(str(target))
    return stored


def get(where: str, name: str, dest_dir: Path) -> Path:
    """Fetch `name` from `where` into `dest_dir`; a clear error when it is not there."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / name
    if where.startswith("gs://"):
        from google.cloud import storage

        bucket_name, prefix = _split_gs(where)
        blob = storage.Client().bucket(bucket_name).blob(f"{prefix}/{name}" if prefix else name)
        if not blob.exists():
            raise UserError(f"{where}/{name}: not in the artifact store "
                            "(run `mlops ci compile` for this commit first)")
        blob.download_to_filename(str(target))
        return target
    source = Path(where) / name
    if not source.exists():
        raise UserError(f"{source}: not in the artifact store "
                        "(run `mlops ci compile` for this commit first)")
    if source.resolve() != target.resolve():
        shutil.copyfile(source, target)
    return target


def listing(where: str) -> list[str]:
    if where.startswith("gs://"):
        from google.cloud import storage

        bucket_name, prefix = _split_gs(where)
        blobs = storage.Client().list_blobs(bucket_name, prefix=f"{prefix}/" if prefix else None)
        return sorted(Path(b.name).name for b in blobs)
    folder = Path(where)
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
