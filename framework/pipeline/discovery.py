"""Find the project root and the pipelines under `pipelines/<name>/`.

A pipeline is a package `pipelines/<name>/` with a `settings.yaml` and an `__init__.py`
exporting `create_pipeline(settings)`. Adding one touches no file under framework/.

The package is checked without importing it (TensorFlow and TFX take seconds to import):
listing reads each `__init__.py` with `ast`, and before the factory is imported its modules
are checked to import each other by package (see `check_imports`). An import that fails, or
a component that fails in the package's code, is reported at the package's file and line.
"""

from __future__ import annotations

import ast
import functools
import importlib
import os
import traceback
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from framework.core.errors import UserError


@dataclass(frozen=True)
class PipelineInfo:
    name: str
    package: str
    folder: Path
    settings_file: Path
    description: str
    # Why the folder is no pipeline package ("" when it is one): read with ast, not imported.
    problem: str = ""


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


def _candidates() -> list[PipelineInfo]:
    """Every folder with settings.yaml and __init__.py, a factory or not (settings load alone)."""
    folder = project_root() / "pipelines"
    found = []
    for sub in sorted(folder.iterdir()) if folder.is_dir() else []:
        settings, init = sub / "settings.yaml", sub / "__init__.py"
        if sub.is_dir() and init.exists() and settings.exists():
            description, problem = _read_init(init)
            found.append(PipelineInfo(name=sub.name, package=f"pipelines.{sub.name}", folder=sub,
                                      settings_file=settings, description=description,
                                      problem=problem))
    return found


def list_pipelines() -> list[PipelineInfo]:
    """The pipeline packages: settings.yaml, and an __init__.py that exports create_pipeline."""
    return [info for info in _candidates() if not info.problem]


def skipped_folders() -> list[tuple[Path, str]]:
    """(folder, why) for each folder under pipelines/ that is not a pipeline package."""
    folder = project_root() / "pipelines"
    candidates = {info.folder: info.problem for info in _candidates()}
    skipped = []
    for sub in sorted(folder.iterdir()) if folder.is_dir() else []:
        if not sub.is_dir() or sub.name.startswith(("_", ".")):
            continue  # __pycache__, hidden folders: never meant as pipelines
        missing = [f for f in ("settings.yaml", "__init__.py") if not (sub / f).exists()]
        why = candidates.get(sub) or (f"no {' and no '.join(missing)}" if missing else "")
        if why:
            skipped.append((sub, why))
    return skipped


def _read_init(init: Path) -> tuple[str, str]:
    """(first docstring line, problem) of a package's __init__.py, without importing it."""
    try:
        tree = ast.parse(init.read_text(encoding="utf-8"), filename=str(init))
    except SyntaxError as exc:
        return "(its __init__.py does not parse)", syntax_error_line(exc)
    doc = (ast.get_docstring(tree) or "").strip()
    problem = "" if _binds(tree, "create_pipeline") else \
        "its __init__.py does not define or import create_pipeline"
    return (doc.splitlines()[0] if doc else ""), problem


def _binds(tree: ast.Module, name: str) -> bool:
    """Whether the module's top level binds `name` (a star import may: counted as yes)."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound = {node.name}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound = {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            bound = {t.id for t in targets if isinstance(t, ast.Name)}
        else:
            continue
        if name in bound or "*" in bound:
            return True
    return False


def find_pipeline(name: str) -> PipelineInfo:
    pipelines = _candidates()
    for info in pipelines:
        if info.name == name:
            return info
    known = ", ".join(p.name for p in pipelines if not p.problem) or "none found"
    raise UserError(f"unknown pipeline '{name}' (pipelines under {project_root() / 'pipelines'}: {known})")


def shown(path: str | os.PathLike) -> str:
    """A path as messages show it: relative to the project root when inside it."""
    try:
        return str(Path(path).resolve().relative_to(project_root()))
    except ValueError:
        return str(path)


def syntax_error_line(exc: SyntaxError) -> str:
    return f"{shown(exc.filename or '?')}:{exc.lineno}: SyntaxError: {exc.msg}"


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def package_location(exc: BaseException, folder: Path) -> str | None:
    """'file:line' of the innermost frame of `exc` in the package at `folder`, if any.

    TFX runs module files from a wheel of the folder's .py files, installed in a temporary
    folder (tfx_user_code_*.dist-info beside them): a frame there is the same line of the
    package's file, and that file is what the user edits.
    """
    folder = folder.resolve()
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = Path(frame.filename)
        if not path.is_absolute():
            continue  # <frozen importlib._bootstrap>, <string>
        if folder in path.resolve().parents:
            return f"{shown(path)}:{frame.lineno}"
        if (folder / path.name).exists() and any(path.parent.glob("tfx_user_code_*.dist-info")):
            return f"{shown(folder / path.name)}:{frame.lineno}"
    return None


def load_factory(name: str):
    """The pipeline package's `create_pipeline(settings)`."""
    info = find_pipeline(name)
    check_imports(info)
    module = _import_package(info)
    factory = getattr(module, "create_pipeline", None)
    if not callable(factory):
        raise UserError(f"{shown(info.folder)}/__init__.py does not export create_pipeline(settings)")
    return functools.partial(_build, factory, info)


def _build(factory, info: PipelineInfo, settings):
    """`factory(settings)`; an error in the package's code is one line at its file and line
    (--verbose: all), as an error while importing it is."""
    try:
        return factory(settings)
    except UserError:
        raise
    except Exception as exc:
        raise _located(exc, info, f"in {info.package}.create_pipeline") from exc


def _located(exc: BaseException, info: PipelineInfo, doing: str) -> UserError:
    """One line for an error in the package's code: 'file:line: Type: message (doing)'."""
    where = package_location(exc, info.folder) or shown(info.folder)
    return UserError(f"{where}: {_first_line(exc)} ({doing})")


def _import_package(info: PipelineInfo):
    """Import the package; an error in it is one line at its file and line (--verbose: all)."""
    import sys

    root = str(project_root())
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        return importlib.import_module(info.package)
    except SyntaxError as exc:
        raise UserError(f"{syntax_error_line(exc)} (importing {info.package})") from exc
    except Exception as exc:
        raise _located(exc, info, f"importing {info.package}") from exc


# The functions TFX looks up in a module file: a file defining one is loaded on its own.
MODULE_FILE_FUNCTIONS = {"preprocessing_fn", "run_fn", "tuner_fn", "stats_options_updater_fn"}


def check_imports(info: PipelineInfo) -> None:
    """The package's modules import each other by package, never by bare name.

    TFX imports a module file as a top-level module, so a bare `import features` beside it
    makes `features` one module for every pipeline in the process: a second pipeline would
    get the first one's. `from pipelines.<name> import features` names the package; it also
    works where TFX loads the file on its own, where a relative import has no package.
    """
    own = {p.stem for p in info.folder.glob("*.py") if p.stem != "__init__"}
    own |= {p.parent.name for p in info.folder.glob("*/__init__.py")}
    others = {p.name for p in _candidates()} - {info.name}
    for path in sorted(info.folder.glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except SyntaxError as exc:
            raise UserError(syntax_error_line(exc)) from exc
        module_file = any(isinstance(n, ast.FunctionDef) and n.name in MODULE_FILE_FUNCTIONS
                          for n in tree.body)
        for node in ast.walk(tree):
            problem = _import_problem(node, info.name, own, others, module_file)
            if problem:
                raise UserError(f"{shown(path)}:{node.lineno}: {problem}")


def _import_problem(node, name: str, own: set, others: set, module_file: bool) -> str:
    if isinstance(node, ast.Import):
        modules = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.level == 0:
        modules = [node.module or ""]
    elif isinstance(node, ast.ImportFrom) and module_file:
        return (f"a relative import in a module file TFX loads on its own, without its "
                f"package; import by package: from pipelines.{name} import ...")
    else:
        return ""
    for module in modules:
        parts = module.split(".")
        if parts[0] in own:
            return (f"'{module}' is this package's own module imported by its bare name "
                    f"(shared with any other pipeline in the process that has one); import it "
                    f"by package: from pipelines.{name} import {parts[0]}")
        if parts[0] == "pipelines" and len(parts) > 1 and parts[1] in others:
            return (f"imports {module}, which belongs to pipeline '{parts[1]}' (copied from "
                    f"it?); import this package's own modules from pipelines.{name}")
    return ""
