"""Find the project root and the pipelines under `pipelines/<name>/`.

A pipeline is a package `pipelines/<name>/` with a `settings.yaml` and an `__init__.py`
exporting `create_pipeline(settings)`. Adding one touches no file under framework/.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from framework.errors import UserError


@dataclass(frozen=True)
class PipelineInfo:
    name: str
    package: str
    folder: Path
    settings_file: Path
    description: str


def _looks_like_root(path: Path) -> bool:
    return (path / "pipelines").is_dir() and (path / "framework").is_dir()


@lru_cache(maxsize=None)
def _root_from(cwd: str, override: str | None) -> Path:
    if override:
        return Path(override).resolve()
    here = Path(cwd).resolve()
    for candidate in (here, *here.parents):
        if _looks_like_root(candidate):
            return candidate
    # Installed without a checkout (e.g. in the image): next to the installed framework.
    import framework

    return Path(framework.__file__).resolve().parent.parent


def project_root() -> Path:
    """$MLOPS_PROJECT_ROOT, else the nearest folder up from cwd holding framework/ and pipelines/."""
    return _root_from(os.getcwd(), os.environ.get("MLOPS_PROJECT_ROOT"))


def list_pipelines() -> list[PipelineInfo]:
    folder = project_root() / "pipelines"
    found = []
    for sub in sorted(folder.iterdir()) if folder.is_dir() else []:
        settings = sub / "settings.yaml"
        if sub.is_dir() and (sub / "__init__.py").exists() and settings.exists():
            found.append(
                PipelineInfo(
                    name=sub.name,
                    package=f"pipelines.{sub.name}",
                    folder=sub,
                    settings_file=settings,
                    description=_first_doc_line(sub / "__init__.py"),
                )
            )
    return found


def _first_doc_line(init: Path) -> str:
    import ast

    try:
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
    except SyntaxError:
        return "(its __init__.py does not parse)"
    return doc.strip().splitlines()[0] if doc.strip() else ""


def find_pipeline(name: str) -> PipelineInfo:
    pipelines = list_pipelines()
    for info in pipelines:
        if info.name == name:
            return info
    known = ", ".join(p.name for p in pipelines) or "none found"
    raise UserError(f"unknown pipeline '{name}' (pipelines under {project_root() / 'pipelines'}: {known})")


def load_factory(name: str):
    """The pipeline package's `create_pipeline(settings)`."""
    import sys

    info = find_pipeline(name)
    root = str(project_root())
    if root not in sys.path:
        sys.path.insert(0, root)
    module = importlib.import_module(info.package)
    factory = getattr(module, "create_pipeline", None)
    if not callable(factory):
        raise UserError(f"{info.folder}/__init__.py does not export create_pipeline(settings)")
    return factory
