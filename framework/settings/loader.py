"""Load a pipeline's settings.yaml: base, then the environment's block, then MLOPS_* variables."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import typing
from pathlib import Path
from typing import Any, Mapping

from framework.core.errors import SettingsError
from framework.settings.model import Settings
from framework.settings.schema import build, field_paths

ENVIRONMENTS = ("local", "dev", "test", "staging", "prod")
# MLOPS_* variables with a meaning of their own, not settings keys.
RESERVED_VARS = {"MLOPS_ENV", "MLOPS_PROJECT_ROOT", "MLOPS_VERBOSE", "MLOPS_PIPELINE"}
ENV_PREFIX = "MLOPS_"


def _deep_merge(into: dict, layer: Mapping, sources: dict, label: str, prefix: str = "") -> None:
    for key, value in layer.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value, sources, label, path)
        else:
            into[key] = _copy(value)
        sources[path] = label
        if isinstance(value, Mapping):
            for sub in _leaf_paths(value, path):
                sources[sub] = label


def _leaf_paths(value: Mapping, prefix: str):
    for key, sub in value.items():
        path = f"{prefix}.{key}"
        yield path
        if isinstance(sub, Mapping):
            yield from _leaf_paths(sub, path)


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _read_yaml(path: Path) -> dict:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError(f"{path}: settings file not found") from None
    except UnicodeDecodeError:
        raise SettingsError(f"{path}: not UTF-8 text") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SettingsError(f"{path}: broken YAML{where}: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: expected a mapping with a 'base' block, got {type(data).__name__}")
    return data


def _env_layer(environ: Mapping[str, str], sources: dict) -> dict:
    """MLOPS_SECTION__KEY=value becomes {section: {key: value}}; unknown names are errors."""
    import yaml

    known = field_paths(Settings)
    layer: dict = {}
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name in RESERVED_VARS:
            continue
        path = name[len(ENV_PREFIX):].lower().replace("__", ".")
        tp = known.get(path)
        if tp is None or path in ("env", "source"):
            raise SettingsError(
                f"environment variable {name}: no settings key '{path}' "
                f"(use MLOPS_<SECTION>__<KEY>, e.g. MLOPS_TRAINING__TRAIN_STEPS)"
            )
        if tp is str or typing.get_args(tp) == (str, type(None)):
            value: Any = raw
        elif tp is bool and raw.strip() in ("0", "1"):  # the usual spelling of a switch
            value = raw.strip() == "1"
        else:
            try:
                value = yaml.safe_load(raw)
            except yaml.YAMLError:
                value = raw
        node = layer
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
        sources[path] = f"environment variable {name}"
    return layer


def resolve_path(value: str | None, root: Path) -> str | None:
    """Relative paths resolve against the project root; package:// against an installed package."""
    if value is None or "://" in value and not value.startswith("package://"):
        return value
    if value.startswith("package://"):
        package, _, rest = value[len("package://"):].partition("/")
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise SettingsError(f"{value}: package '{package}' is not installed")
        return str(Path(list(spec.submodule_search_locations)[0]) / rest)
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (root / path))


def _resolve_paths(obj: Any, root: Path) -> Any:
    changes = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if f.metadata.get("path"):
            changes[f.name] = resolve_path(value, root)
        elif dataclasses.is_dataclass(value):
            changes[f.name] = _resolve_paths(value, root)
    return dataclasses.replace(obj, **changes)


def settings_from_dict(
    data: Mapping,
    env: str = "local",
    *,
    source: str = "<settings>",
    root: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Merge `base` and `env` blocks of an already parsed settings file, then MLOPS_* vars."""
    if env not in ENVIRONMENTS:
        raise SettingsError(
            f"unknown environment '{env}' (choose one of: {', '.join(ENVIRONMENTS)})"
        )
    for key in data:
        if key != "base" and key not in ENVIRONMENTS:
            raise SettingsError(
                f"{source}: unknown top-level block '{key}' "
                f"(expected 'base' and any of: {', '.join(ENVIRONMENTS)})"
            )
    sources: dict[str, str] = {}
    merged: dict = {}
    for block in ("base", env):
        layer = data.get(block) or {}
        if not isinstance(layer, Mapping):
            raise SettingsError(f"{source}: block '{block}' must be a mapping")
        _deep_merge(merged, layer, sources, f"{source} [{block}]")
    env_layer = _env_layer(os.environ if environ is None else environ, sources)
    _deep_merge(merged, env_layer, {}, "")

    def source_of(path: str) -> str:
        probe = path
        while probe:
            if probe in sources:
                return sources[probe]
            probe = probe.rpartition(".")[0]
        return source

    settings = build(Settings, merged, "", source_of)
    settings = _resolve_paths(settings, root or Path.cwd())
    return dataclasses.replace(settings, env=env, source=source)


def load_settings(pipeline: str, env: str | None = None, *, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings of pipeline `pipeline` for environment `env` (default: $MLOPS_ENV or local)."""
    from framework.pipeline.discovery import find_pipeline, project_root

    environ = os.environ if environ is None else environ
    env = env or environ.get("MLOPS_ENV") or "local"
    info = find_pipeline(pipeline)
    data = _read_yaml(info.settings_file)
    try:
        shown = info.settings_file.relative_to(project_root())
    except ValueError:
        shown = info.settings_file
    settings = settings_from_dict(data, env, source=str(shown), root=project_root(),
                                  environ=environ)
    _check_name(settings, info.name, environ)
    return settings


def _check_name(settings: Settings, folder: str, environ: Mapping[str, str]) -> None:
    """pipeline.name is the folder's name: every runner, compile and rehearsal loads the
    factory by pipeline.name, so a copied package still naming its original would run the
    original's code."""
    name = settings.pipeline.name
    if name == folder:
        return
    by_variable = " (set by MLOPS_PIPELINE__NAME)" if "MLOPS_PIPELINE__NAME" in environ else ""
    raise SettingsError(
        f"{settings.source}: pipeline.name is '{name}'{by_variable} but the folder is "
        f"pipelines/{folder}/: a pipeline's name is its folder's name (set pipeline.name: "
        f"{folder}, or rename the folder)"
    )
