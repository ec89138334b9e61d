"""`pipeline.input_pattern` as a regex: which files are pipeline input, and their span.

One reading of the pattern for every layer that needs it: the pre-run data check (the
newest span and version, as ExampleGen reads them), and continuous training (`decay`'s
labelled files by span, `events`' new file in a bucket).
"""

from __future__ import annotations

import re
from typing import Optional


def input_regex(pattern: str) -> re.Pattern:
    """The input pattern as a regex with glob semantics ('*' stays within one folder);
    groups `span` and `version` for {SPAN} and {VERSION}."""
    parts, groups = [], set()
    for piece in re.split(r"(\{SPAN\}|\{VERSION\}|\*|\?)", pattern):
        group = {"{SPAN}": "span", "{VERSION}": "version"}.get(piece)
        if group:  # a second {SPAN} must repeat the first, as ExampleGen reads it
            parts.append(f"(?P={group})" if group in groups else f"(?P<{group}>\\d+)")
            groups.add(group)
        else:
            parts.append({"*": "[^/]*", "?": "[^/]"}.get(piece, re.escape(piece)))
    return re.compile("".join(parts))


def match_input(settings, uri: str) -> Optional[int]:
    """The span number (0 without {SPAN}) when `uri` is pipeline input, else None."""
    root = settings.pipeline.data_root.rstrip("/") + "/"
    if not uri.startswith(root):
        return None
    match = input_regex(settings.pipeline.input_pattern).fullmatch(uri[len(root):])
    if match is None:
        return None
    return int(match.group("span")) if "span" in match.groupdict() else 0
