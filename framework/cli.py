"""`mlops`: the command line. Each module in framework/commands/ is one sub-command.

A command module defines NAME, HELP, `add_arguments(parser)` and `run(args) -> int`.
Command modules import nothing heavy at module level, so `mlops --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from framework import __version__
from framework.core.errors import UserError


def _command_modules():
    import framework.commands as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            yield importlib.import_module(f"framework.commands.{info.name}")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (no usage dump) and exit 2."""

    def error(self, message: str):
        print(f"error: {self.prog}: {message} (see '{self.prog} --help')", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mlops",
        description="Run one TFX pipeline on a laptop, in a container, on Kubeflow or Vertex AI.",
    )
    parser.add_argument("--version", action="version", version=f"mlops {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in _command_modules():
        cmd = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def _verbose(args) -> bool:
    """--verbose, where the command has it, or MLOPS_VERBOSE=1 for any command."""
    import os

    flag = os.environ.get("MLOPS_VERBOSE", "").strip().lower()
    return bool(getattr(args, "verbose", False)) or flag not in ("", "0", "false", "no", "off")


def _stderr_identity():
    """Which file fd 2 is now (a run may point it at its log file for a while)."""
    import os

    try:
        status = os.fstat(2)
    except OSError:
        return None
    return status.st_dev, status.st_ino


class _OffTheTerminal:
    """A logging filter: library records below ERROR are dropped while fd 2 is still the
    stderr the command started with. Pointed at a run's log file, fd 2 gets them all."""

    terminal = None

    def filter(self, record) -> bool:
        import logging

        return record.levelno >= logging.ERROR or _stderr_identity() != self.terminal


_OFF_THE_TERMINAL = _OffTheTerminal()


def _library_output(verbose: bool) -> None:
    """Python warnings (FutureWarning, DeprecationWarning, UserWarning from TF, TFX, Beam,
    kfp) and absl/TensorFlow log lines stay off the terminal unless --verbose.

    Set before the command imports anything heavy. Filters on the loggers rather than
    levels: a level would also keep these lines out of the local runner's log file.
    """
    import logging

    # Exact loggers (a filter does not apply to child loggers): where the lines come from.
    loggers = [logging.getLogger(name) for name in (
        "py.warnings", "tensorflow", "urllib3.connectionpool")]  # last: kfp's HTTP retries
    try:
        from absl import logging as absl_logging  # absl must create its logger itself

        loggers.append(absl_logging.get_absl_logger())
    except ImportError:  # an installation without TensorFlow: no absl lines to keep off
        pass
    _OFF_THE_TERMINAL.terminal = _stderr_identity()
    logging.captureWarnings(not verbose)  # warnings become "py.warnings" records
    for logger in loggers:
        if verbose:
            logger.removeFilter(_OFF_THE_TERMINAL)
        else:
            logger.addFilter(_OFF_THE_TERMINAL)


def _end_on_sigterm_as_on_ctrl_c() -> None:
    """SIGTERM (a CI job aborted or timed out, a `kill`) ends the command as Ctrl-C does.

    Python's default ends the process at once, skipping the `finally` blocks that stop a
    run's Beam job service and worker pool, stop its containers and release its locks.
    """
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def main(argv: list[str] | None = None) -> int:
    import os

    # TensorFlow's C++ start-up chatter (CUDA probes, CPU flags) is noise for a CLI user.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # TF 2.16 defaults to Keras 3; TF Transform's layer and TFMA need Keras 2 (tf_keras).
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import warnings

    # google-api-core's notice that a future release drops Python 3.11, once per Google
    # package imported: noise between a command and its one-line answer.
    warnings.filterwarnings("ignore", message="You are using a Python version",
                            category=FutureWarning)
    from framework.core import speedups

    speedups.at_cli_start()  # before any settings are read: only MLOPS_SPEEDUPS=0 stops it
    parser = build_parser()
    args = parser.parse_args(argv)
    _library_output(_verbose(args))
    _end_on_sigterm_as_on_ctrl_c()
    try:
        return int(args._run(args) or 0)
    except UserError as exc:
        if exc.__cause__ is not None and _verbose(args):
            # The one line names the file and line; --verbose also shows how it got there.
            import traceback

            traceback.print_exception(exc.__cause__, file=sys.stderr)
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
