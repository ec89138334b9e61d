"""Build typed dataclasses from plain dicts, with one clear error per problem.

Supported field types: str, int, float, bool, Literal[...], Optional[T], list[T],
dict[str, T] and nested dataclasses. Field metadata may carry `pattern` (a regex the
string must match in full) and `choices`.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from typing import Any, Callable

from framework.core.errors import SettingsError

# Where a value came from, by dotted key path: "settings.yaml [local]" or "env MLOPS_X".
SourceOf = Callable[[str], str]

SAFE_NAME = r"[a-z][a-z0-9_-]{0,62}"
# Image references and tags: no shell metacharacters, no whitespace, no "..".
SAFE_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
SAFE_IMAGE = r"[a-z0-9]+([._/:-][a-z0-9]+)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?"


def safe(pattern: str, *, default: Any = dataclasses.MISSING, help: str = "") -> Any:
    """A str field that must match `pattern` (rejects shell metacharacters, traversal)."""
    meta = {"pattern": pattern, "help": help}
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is str:
        return "a string"
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return " or ".join(_describe(a) for a in inner) + " (or null)"
    if origin is list:
        return f"a list of {_describe(args[0]).removeprefix('a ').removeprefix('an ')}s"
    if origin is dict:
        return f"a mapping of names to {_describe(args[1])}"
    if dataclasses.is_dataclass(tp):
        return "a mapping with keys " + ", ".join(f.name for f in dataclasses.fields(tp))
    return str(tp)


def _fail(source_of: SourceOf, path: str, expected: str, value: Any) -> SettingsError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return SettingsError(f"{source_of(path)}: key '{path}': expected {expected}, got {shown}")


def convert(tp: Any, value: Any, path: str, source_of: SourceOf, meta: dict | None = None) -> Any:
    """Return `value` converted to type `tp`, or raise SettingsError naming `path`."""
    meta = meta or {}
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)

    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return convert(inner[0], value, path, source_of, meta)
        raise TypeError(f"unsupported union {tp}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _fail(source_of, path, _describe(tp), value)
        return build(tp, value, path, source_of)
    if origin is list:
        if not isinstance(value, list):
            raise _fail(source_of, path, _describe(tp), value)
        return [convert(args[0], v, f"{path}[{i}]", source_of, meta) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(source_of, path, _describe(tp), value)
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise _fail(source_of, path, "string keys", k)
            out[k] = convert(args[1], v, f"{path}.{k}", source_of, meta)
        return out
    if origin is typing.Literal:
        if value not in args:
            raise _fail(source_of, path, _describe(tp), value)
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise _fail(source_of, path, _describe(tp), value)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(source_of, path, _describe(tp), value)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(source_of, path, _describe(tp), value)
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _fail(source_of, path, _describe(tp), value)
        pattern = meta.get("pattern")
        if pattern and not re.fullmatch(pattern, value):
            what = meta.get("help") or f"a value matching {pattern}"
            raise _fail(source_of, path, what, value)
        return value
    if tp is Any:
        return value
    raise TypeError(f"unsupported settings type {tp!r} at {path}")


def build(cls: type, data: dict, path: str, source_of: SourceOf) -> Any:
    """Instantiate dataclass `cls` from `data`; unknown or missing keys are errors."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            where = f"{path}.{key}" if path else key
            known = ", ".join(sorted(fields))
            raise SettingsError(
                f"{source_of(where)}: unknown key '{where}' (known keys here: {known})"
            )
    kwargs = {}
    for name, field in fields.items():
        where = f"{path}.{name}" if path else name
        if name in data:
            kwargs[name] = convert(hints[name], data[name], where, source_of, dict(field.metadata))
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            if dataclasses.is_dataclass(hints[name]):
                kwargs[name] = build(hints[name], {}, where, source_of)
            else:
                raise SettingsError(
                    f"{source_of(where)}: missing required key '{where}' "
                    f"(expected {_describe(hints[name])})"
                )
    return cls(**kwargs)


def field_paths(cls: type, prefix: str = "") -> dict[str, Any]:
    """Every leaf key path of `cls` mapped to its type (used for MLOPS_* variables)."""
    out: dict[str, Any] = {}
    for name, tp in typing.get_type_hints(cls).items():
        path = f"{prefix}.{name}" if prefix else name
        base = tp
        if typing.get_origin(tp) in (typing.Union, types.UnionType):
            inner = [a for a in typing.get_args(tp) if a is not type(None)]
            base = inner[0] if len(inner) == 1 else tp
        if dataclasses.is_dataclass(base):
            out.update(field_paths(base, path))
        else:
            out[path] = tp
    return out
