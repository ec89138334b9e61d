"""MkDocs hook: the pages that are generated from the code and the benchmark results.

`reference/settings.md` and `reference/cli.md` come from the settings model and the CLI's
argument parser, `performance.md` from `benchmarks/results/`, each time the site is built,
so none of them can drift from what they describe.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]


def _pages() -> dict[str, str]:
    for path in (ROOT, ROOT / "benchmarks"):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    import results_report

    from framework import cli_reference
    from framework.settings import reference

    intro = (Path(__file__).with_name("performance_intro.md")).read_text(encoding="utf-8")
    return {
        "reference/settings.md": reference.markdown(),
        "reference/cli.md": cli_reference.markdown(),
        "performance.md": results_report.render_page(ROOT / "benchmarks" / "results", intro),
    }


def on_files(files, config):
    for name, content in _pages().items():
        files.append(File.generated(config, name, content=content))
    return files
