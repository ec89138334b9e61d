"""Waiting for a pipeline run on a target (Kubeflow or Vertex AI) to reach a final state."""

from __future__ import annotations

import time
from typing import Callable


def poll_until_final(read_state: Callable[[], str], final_states, *, timeout: float | None,
                     poll_seconds: float, on_change: Callable[[str], None],
                     on_timeout: Callable[[str], Exception]) -> str:
    """Call read_state() until it returns one of final_states and return that state.

    on_change(state) is told each new state once; when `timeout` seconds pass first,
    on_timeout(state) builds the exception raised.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    last = None
    while True:
        state = read_state()
        if state != last:
            on_change(state)
            last = state
        if state in final_states:
            return state
        if deadline is not None and time.monotonic() >= deadline:
            raise on_timeout(state)
        time.sleep(poll_seconds if deadline is None
                   else max(0.0, min(poll_seconds, deadline - time.monotonic())))
