"""The settings reference, as Markdown, read from the settings model itself.

Every key, its type, its default, its MLOPS_* variable and the comments written beside it in
model.py: the documentation site renders this page, so the reference cannot drift from code.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import tokenize
import typing

from framework.settings import model
from framework.settings.loader import ENVIRONMENTS
from framework.settings.schema import _describe


def _field_comments(cls: type) -> dict[str, str]:
    """Comment lines directly above a field, and its trailing comment, by field name."""
    lines = inspect.getsource(cls).splitlines()
    comments: dict[int, str] = {}
    source = "\n".join(lines) + "\n"
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0] - 1] = tok.string.lstrip("#").strip()
    names = {f.name for f in dataclasses.fields(cls)}
    found: dict[str, str] = {}
    for i, line in enumerate(lines):
        name = line.strip().split(":", 1)[0]
        if name not in names or not line.startswith("    ") or line.startswith("     "):
            continue
        above, j = [], i - 1
        while j >= 0 and lines[j].strip().startswith("#"):
            above.insert(0, comments.get(j, ""))
            j -= 1
        if i in comments and not line.strip().startswith("#"):
            above.append(comments[i])
        found[name] = " ".join(above)
    return found


def _default(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        value = f.default_factory()  # type: ignore[misc]
        if dataclasses.is_dataclass(value):
            return "(a block, below)"
    else:
        return "required"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return f"`{value!r}`" if isinstance(value, str) else f"`{value}`"


def _section(cls: type, path: str, out: list[str]) -> None:
    hints = typing.get_type_hints(cls)
    notes = _field_comments(cls)
    # A dataclass without a docstring gets a generated one ("Name(field, ...)"): not prose.
    doc = cls.__doc__ or ""
    doc = "" if doc.startswith(cls.__name__ + "(") else inspect.cleandoc(doc)
    out.append(f"## `{path}`" if path else "## Top level")
    if doc:
        out += ["", doc]
    out += ["", "| key | type | default | variable | meaning |", "|---|---|---|---|---|"]
    nested = []
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal"):
            continue
        tp = hints[f.name]
        inner = [a for a in typing.get_args(tp) if dataclasses.is_dataclass(a)]
        block = tp if dataclasses.is_dataclass(tp) else (inner[0] if inner else None)
        key = f"{path}.{f.name}" if path else f.name
        if block is not None:
            nested.append((block, key))
        variable = "-" if block else "`MLOPS_" + key.upper().replace(".", "__") + "`"
        meaning = " ".join(x for x in (notes.get(f.name, ""), f.metadata.get("help", "")) if x)
        kind = f"block [`{key}`](#{key.replace('.', '')})" if block else _describe(tp)
        out.append(f"| `{f.name}` | {kind} | {_default(f)} | {variable} | "
                   f"{meaning.replace('|', '/')} |")
    out.append("")
    for block, key in nested:
        _section(block, key, out)


def markdown() -> str:
    """The whole settings reference page."""
    out = [
        "# Settings reference",
        "",
        "Every key a pipeline's `settings.yaml` may hold, generated from "
        "`framework/settings/model.py`. A `settings.yaml` has a `base` block and one block "
        f"per environment ({', '.join(f'`{e}`' for e in ENVIRONMENTS)}); the "
        "environment's block is merged over `base`, then `MLOPS_*` variables over both "
        "(`MLOPS_<SECTION>__<KEY>`, e.g. `MLOPS_TRAINING__TRAIN_STEPS=200`). Relative paths "
        "resolve against the project root. Unknown keys and wrong types are errors that "
        "name the file, the key and what was expected.",
        "",
    ]
    _section(model.Settings, "", out)
    return "\n".join(out) + "\n"
