"""What TFX, Beam and TensorFlow write during a run goes to the run's log file.

Its own module, below both runners that use it (local and container), so neither imports
the other for it.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def quiet_logs(log_file: Path | None, progress):
    """Send what TFX, Beam, TensorFlow and setuptools write (fd 1 and 2) to log_file.

    The progress display keeps writing to the original standard output.
    """
    if log_file is None:
        yield
        return
    import logging
    import sys

    log_file.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    original_stream = progress.stream
    progress.stream = os.fdopen(os.dup(saved[1]), "w", buffering=1)
    previous = logging.getLogger().level
    with open(log_file, "a", encoding="utf-8") as handle:
        for fd in (1, 2):
            os.dup2(handle.fileno(), fd)
        logging.getLogger().setLevel(logging.INFO)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            logging.getLogger().setLevel(previous)
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            progress.stream.close()
            progress.stream = original_stream
