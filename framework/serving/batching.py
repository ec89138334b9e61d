"""Server-side dynamic batching, as TensorFlow Serving does it: requests for the same model
and signature that arrive together share one model call.

Each (model, signature, input layout) has a queue and one runner thread that makes its
calls one at a time. A request is put on the queue and handed a future. The runner takes
every request waiting (up to `max_batch_size` examples), makes one call on their
concatenated inputs and gives each request its own rows. While a call runs, the next batch
fills with the requests that arrive, so the batch size follows the load: a lone request is
called at once, and under load each call serves many.

Before a call the runner waits for company only for requests already inside the server
(being read and checked, counted by `arriving`) and at most `max_wait_ms`: it never waits
for a request that has not come in.

`mlops serve`'s asyncio handlers (REST and gRPC) await the future, so one event-loop thread
reads and answers every request while the runner makes the model calls; `call` waits on it
from a thread. A runner with nothing to do for a while ends; the next request
starts another.

A batch whose call fails is retried one request at a time, so a request that breaks the
model fails alone and the others in its batch are answered.
"""

from __future__ import annotations

import collections
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

Arrays = dict[str, np.ndarray]
ModelCall = Callable[[Arrays], Arrays]
IDLE_S = 30.0  # a runner thread with no request for this long ends


@dataclass
class CallResult:
    """A request's outputs and its share of the model call's CPU time (split by examples;
    what the CPU time counts: see `_timed`)."""

    outputs: Arrays
    cpu_ms: float
    batch_requests: int = 1


@dataclass
class _Pending:
    call: ModelCall
    arrays: Arrays
    rows: int
    future: Future


class Batcher:
    def __init__(self, max_batch_size: int = 32, max_wait_ms: float = 2.0,
                 enabled: bool = True, unbatched_threads: int = 8) -> None:
        self.unbatched_threads = max(1, unbatched_threads)  # asyncio callers' unbatched calls
        self.max_batch_size = max(1, max_batch_size)
        self.max_wait_s = max(0.0, max_wait_ms) / 1000.0
        self.enabled = enabled
        self._queues: dict[tuple, _Queue] = {}
        self._lock = threading.Lock()  # guards _queues and the counters
        self._waiting = 0  # examples queued for a model call that has not started
        self._arriving = 0  # requests inside the server that have not reached a queue yet
        self._executor = None

    @classmethod
    def from_settings(cls, section, threads: int = 8) -> "Batcher":
        """From release.batching; `threads` (release.threads) bounds unbatched calls."""
        return cls(section.max_batch_size, section.max_wait_ms, section.enabled, threads)

    def waiting(self) -> int:
        """Examples waiting for their batch's model call to start."""
        return self._waiting

    def arriving(self) -> "Arrival":
        """Count a request as on its way to a queue until it is submitted or given up:
        `with batcher.arriving() as arrival: ...; batcher.submit(..., arrival=arrival)`.
        Runners wait (up to max_wait_ms) for such requests before a call."""
        with self._lock:
            self._arriving += 1
        return Arrival(self)

    def _arrived(self) -> None:
        """A request given up before it reached a queue (a bad request): runners waiting
        for it look again."""
        with self._lock:
            self._arriving -= 1
            queues = list(self._queues.values())
        for queue in queues:
            with queue.ready:
                queue.ready.notify_all()

    def call(self, key: tuple, call: ModelCall, arrays: Arrays,
             arrival: Optional["Arrival"] = None) -> CallResult:
        """`call`'s outputs for `arrays`, made together with other requests of the same `key`
        (the caller's model and signature) when they arrive together. Blocks."""
        if not self._batches(arrays):
            if arrival is not None:
                arrival.close()
            return _timed(call, arrays)
        return self.submit(key, call, arrays, arrival).result()

    def submit(self, key: tuple, call: ModelCall, arrays: Arrays,
               arrival: Optional["Arrival"] = None) -> Future:
        """A future of `call(arrays)`'s CallResult, made on the queue's runner thread (or,
        with batching off or a request as large as a batch, on a pool thread)."""
        if not self._batches(arrays):
            if arrival is not None:
                arrival.close()
            return self._pool().submit(_timed, call, arrays)
        pending = _Pending(call, arrays, _rows(arrays), Future())
        with self._lock:
            queue = self._queues.get(key := (*key, _layout(arrays)))
            if queue is None:
                queue = self._queues[key] = _Queue(self, key)
            self._waiting += pending.rows
            if arrival is not None and arrival.open:
                arrival.open = False
                self._arriving -= 1
            queue.put(pending)  # under the lock: a retiring runner cannot miss it
        return pending.future

    def _pool(self):
        """Threads for unbatched calls of asyncio callers (which must not block their loop)."""
        from concurrent.futures import ThreadPoolExecutor

        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.unbatched_threads, "model-call")
            return self._executor

    def _batches(self, arrays: Arrays) -> bool:
        return self.enabled and _rows(arrays) < self.max_batch_size

    def _take(self, queue: "_Queue") -> Optional[list[_Pending]]:
        """The next batch of a queue (its runner calls this); None when the runner should
        end, having had no request for IDLE_S."""
        while not self._ready(queue):
            with self._lock, queue.ready:  # the order submit takes them in
                if not queue.pending:  # still idle: retire
                    del self._queues[queue.key]
                    return None
        with queue.ready:
            deadline = time.monotonic() + self.max_wait_s
            while (queue.rows < self.max_batch_size and self._arriving > 0
                   and (left := deadline - time.monotonic()) > 0):
                queue.ready.wait(left)  # a request being read will join this batch
            batch, rows = [], 0
            while queue.pending and rows + queue.pending[0].rows <= self.max_batch_size:
                pending = queue.pending.popleft()
                rows += pending.rows
                # A caller that gave up (a cancelled gRPC call) is dropped here.
                if pending.future.set_running_or_notify_cancel():
                    batch.append(pending)
            queue.rows -= rows
        with self._lock:
            self._waiting -= rows
        return batch

    @staticmethod
    def _ready(queue: "_Queue") -> bool:
        with queue.ready:
            return bool(queue.pending) or queue.ready.wait_for(lambda: queue.pending, IDLE_S)


class Arrival:
    """A request on its way to a batch queue (Batcher.arriving)."""

    def __init__(self, batcher: Batcher) -> None:
        self.batcher = batcher
        self.open = True

    def close(self) -> None:
        if self.open:
            self.open = False
            self.batcher._arrived()

    def __enter__(self) -> "Arrival":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Queue:
    """The requests waiting for one (model, signature, input layout), and its runner."""

    def __init__(self, batcher: Batcher, key: tuple) -> None:
        self.batcher = batcher
        self.key = key
        self.pending: collections.deque[_Pending] = collections.deque()
        self.rows = 0
        self.ready = threading.Condition()
        threading.Thread(target=self._run, daemon=True, name="batch-runner").start()

    def put(self, pending: _Pending) -> None:
        with self.ready:
            self.pending.append(pending)
            self.rows += pending.rows
            self.ready.notify()

    def _run(self) -> None:
        while (batch := self.batcher._take(self)) is not None:
            try:
                _run_batch(batch)
            except BaseException as exc:  # noqa: BLE001 - the runner must outlive a batch
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(exc)


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
    model call, this model's when batching is off (with it on, each model's calls run one
    at a time on its runner), other requests' parsing, the stats writer. Under concurrent
    load every version's figure reads high, and fixed costs of a call (waking TensorFlow's
    threads) weigh the same for every version; both pull a canary/production ratio towards
    1. Counting a reading of the op threads' own clocks instead of the process's (Linux
    only) changed little once the rollback policy compared only requests that had a call of
    their own (framework/release/policy.py): about 1.1-1.3x for the same model at a 10-30 %
    canary under four clients, either way.
    """
    cpu = time.process_time()
    outputs = call(arrays)
    return CallResult(outputs, (time.process_time() - cpu) * 1000.0)


def _settle(future: Future, call: ModelCall, arrays: Arrays) -> None:
    """Run the call and set its future (set running when its batch was taken)."""
    try:
        future.set_result(_timed(call, arrays))
    except Exception as exc:  # noqa: BLE001 - handed to the request that waits for it
        future.set_exception(exc)


def _run_batch(batch: list[_Pending]) -> None:
    if len(batch) <= 1:
        for pending in batch:
            _settle(pending.future, pending.call, pending.arrays)
        return
    total = sum(p.rows for p in batch)
    try:
        merged = {name: np.concatenate([p.arrays[name] for p in batch])
                  for name in batch[0].arrays}
        whole = _timed(batch[0].call, merged)
    except Exception:  # noqa: BLE001 - find the request that broke it: each alone
        for pending in batch:
            _settle(pending.future, pending.call, pending.arrays)
        return
    start = 0
    for pending in batch:
        end = start + pending.rows
        pending.future.set_result(CallResult(
            {k: v[start:end] for k, v in whole.outputs.items()},
            whole.cpu_ms * pending.rows / total, len(batch)))
        start = end
