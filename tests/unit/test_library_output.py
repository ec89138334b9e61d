"""Library warnings and absl/TensorFlow log lines stay off the terminal unless --verbose, and
still reach a run's log file (the local runner points fd 2 at it while the pipeline runs)."""

from __future__ import annotations

import logging
import os
import warnings
from contextlib import contextmanager

import pytest


@pytest.fixture
def library_output(caplog):
    """framework.cli._library_output, undone afterwards; levels as a fresh process has them
    (framework.ct.quiet, which other tests call, quiets absl and tensorflow by level)."""
    from framework.cli import _library_output

    for name in ("absl", "tensorflow"):
        caplog.set_level(logging.WARNING, logger=name)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        logging.captureWarnings(False)  # forget a capture an in-process main() left behind
        yield _library_output
        _library_output(verbose=True)


@contextmanager
def fd2_to(path):
    """fd 2 pointed at a file for a while, as LocalRunner's quiet_logs does."""
    saved = os.dup(2)
    with open(path, "a") as handle:
        os.dup2(handle.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _chatter(tag: str) -> None:
    from absl import logging as absl_logging

    absl_logging.warning("absl %s", tag)
    logging.getLogger("tensorflow").warning("tensorflow %s", tag)
    warnings.warn(f"warning {tag}", UserWarning, stacklevel=1)


def _seen(caplog) -> str:
    return "\n".join(r.getMessage() for r in caplog.records)


def test_library_lines_do_not_reach_the_terminal(library_output, caplog, recwarn):
    library_output(verbose=False)
    _chatter("on the terminal")
    assert "on the terminal" not in _seen(caplog)
    assert not recwarn.list  # the warning went to logging (and was dropped there)


def test_errors_still_do(library_output, caplog):
    from absl import logging as absl_logging

    library_output(verbose=False)
    absl_logging.error("absl error")
    assert "absl error" in _seen(caplog)


def test_library_lines_reach_a_run_log_file(library_output, caplog, tmp_path):
    library_output(verbose=False)
    with fd2_to(tmp_path / "run.log"):
        _chatter("in the log")
    seen = _seen(caplog)
    for source in ("absl", "tensorflow", "warning"):
        assert f"{source} in the log" in seen


def test_verbose_shows_them(library_output, caplog):
    library_output(verbose=False)
    library_output(verbose=True)  # as MLOPS_VERBOSE=1 or --verbose would
    with pytest.warns(UserWarning, match="warning verbose"):  # shown as Python shows it
        _chatter("verbose")
    seen = _seen(caplog)
    assert "absl verbose" in seen and "tensorflow verbose" in seen
