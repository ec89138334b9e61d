"""The command reference, as Markdown, read from the argument parser `mlops` itself uses.

The documentation site renders this page, so the reference cannot drift from the CLI.
"""

from __future__ import annotations

import argparse

from framework.cli import build_parser


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:  # argparse keeps sub-parsers only here
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices.items())
    return []


def _option_row(action: argparse.Action) -> str | None:
    if action.help == argparse.SUPPRESS or isinstance(action, argparse._SubParsersAction):
        return None
    if isinstance(action, argparse._HelpAction):
        return None
    name = ", ".join(f"`{s}`" for s in action.option_strings) or f"`{action.metavar or action.dest}`"
    if action.option_strings and action.nargs != 0:
        name += f" `{action.metavar or action.dest.upper()}`"
    default = action.default
    shown = "" if default in (None, False, argparse.SUPPRESS) or action.nargs == 0 else f"`{default}`"
    if action.choices and not isinstance(action.choices, dict):
        shown = (shown + " " if shown else "") + "one of " + ", ".join(f"`{c}`" for c in action.choices)
    help_text = (action.help or "").replace("|", "/").replace("\n", " ")
    if "%(default)s" in help_text:
        help_text = help_text.replace("%(default)s", str(default))
    return f"| {name} | {help_text} | {shown} |"


def _command(path: str, parser: argparse.ArgumentParser, level: int, out: list[str]) -> None:
    out += [f"{'#' * level} `{path}`", ""]
    if parser.description:
        out += [parser.description, ""]
    usage = parser.format_usage().removeprefix("usage: ").strip()
    out += ["```text", usage, "```", ""]
    rows = [r for r in map(_option_row, parser._actions) if r]
    if rows:
        out += ["| argument | meaning | default / choices |", "|---|---|---|", *rows, ""]
    if parser.epilog:
        out += [parser.epilog, ""]
    for name, sub in _subcommands(parser):
        _command(f"{path} {name}", sub, min(level + 1, 4), out)


def markdown() -> str:
    """The whole command reference page."""
    parser = build_parser()
    out = ["# Command reference", "",
           "Every `mlops` command and option, generated from the parser the command line "
           "uses (`framework/cli.py`, one module per command in `framework/commands/`). "
           "Errors are one line starting with `error:` on standard error; a usage mistake "
           "exits 2.", ""]
    out += ["| command | what it does |", "|---|---|"]
    out += [f"| [`mlops {name}`](#mlops-{name}) | {sub.description or ''} |"
            for name, sub in _subcommands(parser)]
    out.append("")
    for name, sub in _subcommands(parser):
        _command(f"mlops {name}", sub, 2, out)
    return "\n".join(out) + "\n"
