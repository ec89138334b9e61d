"""`pipeline.input_pattern` as a regex: which files are pipeline input, and their span.

Its own module so that `decay` (labelled files by span) and `events` (a new file in a
bucket) share it without importing each other; both sit below `triggers` and `loop`.
"""

from __future__ import annotations

import re
from typing import Optional


def input_regex(pattern: str) -> re.Pattern:
    """The input pattern as a regex with glob semantics ('*' stays within one folder);
    group 1 is the span."""
    parts = []
    for piece in re.split(r"(\{SPAN\}|\*|\?)", pattern):
        parts.append({"{SPAN}": r"(\d+)", "*": r"[^/]*", "?": r"[^/]"}.get(piece, re.escape(piece)))
    return re.compile("".join(parts))


def match_input(settings, uri: str) -> Optional[int]:
    """The span number (0 without {SPAN}) when `uri` is pipeline input, else None."""
    root = settings.pipeline.data_root.rstrip("/") + "/"
    if not uri.startswith(root):
        return None
    match = input_regex(settings.pipeline.input_pattern).fullmatch(uri[len(root):])
    if match is None:
        return None
    return int(match.group(1)) if match.groups() else 0
