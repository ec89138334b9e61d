"""The documentation site: it builds strictly, and its generated pages follow the code."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import typing
from pathlib import Path

from framework import cli_reference
from framework.cli import build_parser
from framework.settings import model, reference

ROOT = Path(__file__).resolve().parents[2]


def test_site_builds_strictly_so_a_broken_link_or_anchor_fails(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                            "-d", str(tmp_path / "site")], cwd=ROOT, env=env,
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-3000:]
    for page in ("index.html", "reference/settings/index.html", "reference/cli/index.html",
                 "performance/index.html"):
        assert (tmp_path / "site" / page).is_file(), page


def test_strict_build_fails_on_a_link_to_a_page_that_does_not_exist(tmp_path):
    # Held here because `mkdocs build --strict -q` silences the warnings strict counts, and
    # passes with broken links: the build above must run without -q.
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# Home\n\nSee [nowhere](missing.md).\n")
    (tmp_path / "mkdocs.yml").write_text("site_name: t\nstrict: true\n")
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict"],
                           cwd=tmp_path, capture_output=True, text=True,
                           env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert built.returncode != 0 and "missing.md" in built.stderr


def _keys(cls: type, prefix: str = "") -> list[str]:
    hints = typing.get_type_hints(cls)
    keys = []
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal"):
            continue
        key = f"{prefix}{f.name}"
        keys.append(key)
        blocks = [a for a in (hints[f.name], *typing.get_args(hints[f.name]))
                  if dataclasses.is_dataclass(a)]
        if blocks:
            keys += _keys(blocks[0], key + ".")
    return keys


def test_settings_reference_lists_every_key_with_its_variable():
    page = reference.markdown()
    for key in _keys(model.Settings):
        if "." in key:
            section, name = key.rsplit(".", 1)
            assert f"## `{section}`" in page, section
        leaf = key.rsplit(".", 1)[-1]
        assert f"| `{leaf}` |" in page, key
        is_block = f"[`{key}`](#" in page
        assert is_block or f"`MLOPS_{key.upper().replace('.', '__')}`" in page, key


def test_settings_reference_carries_the_comment_written_beside_a_field():
    page = reference.markdown()
    line = next(x for x in page.splitlines() if "`MLOPS_METADATA__MYSQL__PASSWORD_ENV`" in x)
    assert "never the password itself" in line


def test_command_reference_lists_every_command_and_option():
    page = cli_reference.markdown()
    parser = build_parser()
    [sub] = [a for a in parser._actions if hasattr(a, "choices") and isinstance(a.choices, dict)]
    for name, cmd in sub.choices.items():
        assert f"`mlops {name}`" in page, name
        for action in cmd._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert f"`{option}`" in page, f"mlops {name} {option}"
