"""Arguments shared by several commands."""

from __future__ import annotations

import argparse


def add_pipeline_env(parser: argparse.ArgumentParser, *, pipeline_required: bool = False) -> None:
    from framework.settings import ENVIRONMENTS

    parser.add_argument(
        "--pipeline", "-p", default=None if pipeline_required else "taxi",
        required=pipeline_required, help="pipeline name (see `mlops pipelines`; default: taxi)",
    )
    parser.add_argument(
        "--env", "-e", default=None,
        help=f"environment block of settings.yaml: {', '.join(ENVIRONMENTS)} "
        "(default: $MLOPS_ENV or local)",
    )


def write_json(path: str | None, data: dict) -> None:
    """A command's --json result, to a local file or a gs:// object (nothing when no path)."""
    if not path:
        return
    import json

    from framework.storage import files

    files.write_text(path, json.dumps(data, indent=2, default=str))


def run_until_stopped(run, stop) -> None:
    """`run()` (a server's loop) until Ctrl-C or SIGTERM, then `stop()`; prints "stopped".
    SIGTERM (a service manager, `kill`) ends it the way Ctrl-C does."""
    import signal

    def _terminate(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        run()
    except KeyboardInterrupt:
        pass
    finally:
        stop()
    print("stopped", flush=True)
