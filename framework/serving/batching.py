"""Server-side dynamic batching, as TensorFlow Serving does it: requests for the same model
and signature that arrive together share one model call.

No extra threads: the first request to find no batch open becomes the batch's leader. Calls
of one model are made one at a time, so while the model is busy the next batch fills with
the requests that arrive (up to `max_batch_size` examples). When the model is idle the
leader goes at once if it is alone (a lone client never waits); if another request arrived
within the last `max_wait_ms` it waits up to `max_wait_ms` for company. It then makes one
call on the concatenated inputs and hands each request its own rows.

A batch whose call fails is retried one request at a time, so a request that breaks the
model fails alone and the others in its batch are answered.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

Arrays = dict[str, np.ndarray]
ModelCall = Callable[[Arrays], Arrays]


@dataclass
class CallResult:
    """A request's outputs and its share of the model call's CPU time (split by examples;
    what the CPU time counts: see `_timed`)."""

    outputs: Arrays
    cpu_ms: float
    batch_requests: int = 1


@dataclass
class _Pending:
    arrays: Arrays
    rows: int
    done: threading.Event = field(default_factory=threading.Event)
    result: Optional[CallResult] = None
    error: Optional[BaseException] = None


class _Batch:
    def __init__(self) -> None:
        self.pending: list[_Pending] = []
        self.rows = 0
        self.full = threading.Event()


class _Queue:
    """The open batch and the model's call lock, for one (model, signature, input layout)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # guards `open` and `last_arrival`
        self.calling = threading.Lock()  # one model call at a time
        self.open: Optional[_Batch] = None
        self.last_arrival = 0.0


class Batcher:
    def __init__(self, max_batch_size: int = 32, max_wait_ms: float = 2.0,
                 enabled: bool = True) -> None:
        self.max_batch_size = max(1, max_batch_size)
        self.max_wait_s = max(0.0, max_wait_ms) / 1000.0
        self.enabled = enabled
        self._queues: dict[tuple, _Queue] = {}
        self._queues_lock = threading.Lock()
        self._waiting = 0  # examples queued for a model call that has not started
        self._waiting_lock = threading.Lock()

    def waiting(self) -> int:
        """Examples waiting for their batch's model call to start."""
        return self._waiting

    @classmethod
    def from_settings(cls, section) -> "Batcher":
        return cls(section.max_batch_size, section.max_wait_ms, section.enabled)

    def call(self, key: tuple, call: ModelCall, arrays: Arrays) -> CallResult:
        """`call`'s outputs for `arrays`, made together with other requests of the same `key`
        (the caller's model and signature) when they arrive together."""
        rows = _rows(arrays)
        if not self.enabled or rows >= self.max_batch_size:
            return _timed(call, arrays)
        queue = self._queue((*key, _layout(arrays)))
        mine = _Pending(arrays, rows)
        batch, leader, busy = self._join(queue, mine)
        if not leader:
            mine.done.wait()
        else:
            if busy and not queue.calling.locked():
                # The model is idle but requests are arriving: give them a moment to join.
                batch.full.wait(self.max_wait_s)
            with queue.calling:  # while the model is busy, this batch keeps filling
                with queue.lock:
                    if queue.open is batch:
                        queue.open = None  # closed: later arrivals open the next batch
                self._count_waiting(-batch.rows)
                _run_batch(call, batch.pending)
        if mine.error is not None:
            raise mine.error
        return mine.result

    def _join(self, queue: _Queue, mine: _Pending) -> tuple[_Batch, bool, bool]:
        """Add a request to the open batch (or open one): (batch, leads it, others arrived
        within the wait)."""
        with queue.lock:
            now = time.monotonic()
            busy = now - queue.last_arrival < self.max_wait_s
            queue.last_arrival = now
            batch = queue.open
            leader = batch is None or batch.rows + mine.rows > self.max_batch_size
            if leader:
                batch = queue.open = _Batch()
            batch.pending.append(mine)
            batch.rows += mine.rows
            self._count_waiting(mine.rows)
            if batch.rows >= self.max_batch_size:
                batch.full.set()
                queue.open = None
            return batch, leader, busy

    def _count_waiting(self, rows: int) -> None:
        with self._waiting_lock:
            self._waiting += rows

    def _queue(self, key: tuple) -> _Queue:
        with self._queues_lock:
            return self._queues.setdefault(key, _Queue())


def _rows(arrays: Arrays) -> int:
    return int(next(iter(arrays.values())).shape[0]) if arrays else 0


def _layout(arrays: Arrays) -> tuple:
    """Requests batch together only when their inputs concatenate: same names, dtypes and
    non-batch dimensions."""
    return tuple((name, a.dtype.str, a.shape[1:]) for name, a in sorted(arrays.items()))


def _timed(call: ModelCall, arrays: Arrays) -> CallResult:
    """The call's outputs and CPU: the whole process's CPU time while the call ran.

    Not the calling thread's CPU (time.thread_time): TensorFlow runs a model's heavier ops
    on its own op threads, which that clock misses. Measured on the taxi model, one example
    a call: thread CPU 0.5 ms, process CPU 0.8 ms; on a copy that adds eight 256x256
    matmuls, thread CPU 0.6 ms (almost unchanged) but process CPU 2.2 ms, up by the
    matmuls' work.

    The process's clock also counts whatever other threads did meanwhile: another version's
    model call, this model's when batching is off (with it on, calls of one model hold its
    lock and run one at a time), other requests' parsing, the stats writer. Under
    concurrent load every version's figure reads high, and fixed costs of a call (waking
    TensorFlow's threads) weigh the same for every version; both pull a canary/production
    ratio towards 1. Counting a reading of the op threads' own clocks instead of the
    process's (Linux only) changed little once the rollback policy compared only requests
    that had a call of their own (framework/release/policy.py): about 1.1-1.3x for the same
    model at a 10-30 % canary under four clients, either way.
    """
    cpu = time.process_time()
    outputs = call(arrays)
    return CallResult(outputs, (time.process_time() - cpu) * 1000.0)


def _run_batch(call: ModelCall, batch: list[_Pending]) -> None:
    if len(batch) == 1:
        _answer_alone(call, batch[0])
        return
    merged = {name: np.concatenate([p.arrays[name] for p in batch])
              for name in batch[0].arrays}
    total = sum(p.rows for p in batch)
    try:
        whole = _timed(call, merged)
    except Exception:  # noqa: BLE001 - find the request that broke it: each alone
        for pending in batch:
            _answer_alone(call, pending)
        return
    start = 0
    for pending in batch:
        end = start + pending.rows
        pending.result = CallResult({k: v[start:end] for k, v in whole.outputs.items()},
                                    whole.cpu_ms * pending.rows / total, len(batch))
        start = end
        pending.done.set()


def _answer_alone(call: ModelCall, pending: _Pending) -> None:
    try:
        pending.result = _timed(call, pending.arrays)
    except Exception as exc:  # noqa: BLE001 - handed to the request's own thread
        pending.error = exc
    pending.done.set()
