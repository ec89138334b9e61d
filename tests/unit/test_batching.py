"""Dynamic batching (framework/serving/batching.py) with a numpy model: which requests share
a call, that each gets its own rows back, and that a failing request fails alone."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from framework.serving.batching import Batcher


class Model:
    """Doubles its input; records every call's batch size; can be held busy."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.busy = threading.Event()  # set while a call is held
        self.release = threading.Event()
        self.release.set()
        self.lock = threading.Lock()

    def __call__(self, arrays):
        x = arrays["x"]
        with self.lock:
            self.calls.append(len(x))
        self.busy.set()
        self.release.wait(30)
        if (x < 0).any():
            raise ValueError("negative input")
        return {"y": x * 2}


def request(value: float, rows: int = 1):
    return {"x": np.full((rows, 1), value, dtype=np.float32)}


def hold_model_then_send(batcher: Batcher, model: Model, values: list[float], rows: int = 1):
    """One request holds the model busy; `values` arrive meanwhile; then it is released.
    Returns {value: CallResult or exception} for the queued requests."""
    model.release.clear()
    first = threading.Thread(target=batcher.call, args=(("m", "s"), model, request(0.5)))
    first.start()
    assert model.busy.wait(10), "the first call never reached the model"
    results: dict = {}

    def send(value):
        try:
            results[value] = batcher.call(("m", "s"), model, request(value, rows))
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            results[value] = exc

    threads = [threading.Thread(target=send, args=(v,)) for v in values]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    # Every request is either queued for a batch or (unbatched) already inside the model.
    while (batcher.waiting() + sum(model.calls[1:]) < len(values) * rows
           and time.monotonic() < deadline):
        time.sleep(0.005)
    model.release.set()
    first.join(10)
    for t in threads:
        t.join(10)
    return results


def test_requests_arriving_while_the_model_is_busy_share_one_call_and_get_their_own_rows():
    model, batcher = Model(), Batcher(max_batch_size=32, max_wait_ms=1)
    results = hold_model_then_send(batcher, model, [1.0, 2.0, 3.0, 4.0])
    assert model.calls == [1, 4]  # the holding call, then one call for the four
    for value, result in results.items():
        assert result.outputs["y"].tolist() == [[value * 2]]
        assert result.batch_requests == 4


def test_a_batch_never_holds_more_examples_than_max_batch_size():
    model, batcher = Model(), Batcher(max_batch_size=4, max_wait_ms=1)
    results = hold_model_then_send(batcher, model, [1.0, 2.0, 3.0, 4.0, 5.0], rows=2)
    assert max(model.calls[1:]) <= 4
    assert sum(model.calls[1:]) == 10
    assert all(r.outputs["y"].tolist() == [[v * 2]] * 2 for v, r in results.items())


def test_a_request_that_breaks_the_model_fails_alone_and_the_rest_of_its_batch_is_answered():
    model, batcher = Model(), Batcher(max_batch_size=32, max_wait_ms=1)
    results = hold_model_then_send(batcher, model, [1.0, -1.0, 3.0])
    assert isinstance(results[-1.0], ValueError)
    assert results[1.0].outputs["y"].tolist() == [[2.0]]
    assert results[3.0].outputs["y"].tolist() == [[6.0]]


def test_a_lone_request_runs_at_once_without_waiting_for_company():
    model, batcher = Model(), Batcher(max_batch_size=32, max_wait_ms=20_000)
    started = time.monotonic()
    result = batcher.call(("m", "s"), model, request(1.0))
    # Waiting for company would take the configured 20 s.
    assert time.monotonic() - started < 10
    assert result.outputs["y"].tolist() == [[2.0]] and result.batch_requests == 1


def test_disabled_batching_makes_one_call_per_request():
    model, batcher = Model(), Batcher(enabled=False)
    results = hold_model_then_send(batcher, model, [1.0, 2.0, 3.0])
    assert model.calls == [1, 1, 1, 1]
    assert all(r.batch_requests == 1 for r in results.values())


def test_requests_whose_inputs_do_not_concatenate_are_not_batched_together():
    model, batcher = Model(), Batcher(max_batch_size=32, max_wait_ms=1)
    model.release.clear()
    first = threading.Thread(target=batcher.call, args=(("m", "s"), model, request(0.5)))
    first.start()
    assert model.busy.wait(10)
    wide = {"x": np.ones((1, 3), dtype=np.float32)}
    out = {}
    threads = [threading.Thread(target=lambda: out.setdefault("narrow", batcher.call(
                   ("m", "s"), model, request(1.0)))),
               threading.Thread(target=lambda: out.setdefault("wide", batcher.call(
                   ("m", "s"), model, wide)))]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while batcher.waiting() + len(model.calls) - 1 < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    model.release.set()
    for t in threads + [first]:
        t.join(10)
    assert out["wide"].outputs["y"].shape == (1, 3)
    assert out["narrow"].outputs["y"].shape == (1, 1)
    assert sorted(model.calls) == [1, 1, 1]


@pytest.mark.parametrize("rows", [32, 40])
def test_a_request_as_large_as_a_batch_runs_alone(rows):
    model, batcher = Model(), Batcher(max_batch_size=32, max_wait_ms=1)
    result = batcher.call(("m", "s"), model, request(1.0, rows))
    assert model.calls == [rows] and result.outputs["y"].shape == (rows, 1)


def test_a_batch_waits_for_a_request_that_is_still_being_read():
    model, batcher = Model(), Batcher(max_batch_size=32, max_wait_ms=20_000)
    arrival = batcher.arriving()  # a request inside the server, not yet at the batcher
    first = batcher.submit(("m", "s"), model, request(1.0))
    time.sleep(0.2)
    assert not first.done(), "the batch went without the request being read"
    second = batcher.submit(("m", "s"), model, request(2.0), arrival)
    assert first.result(10).batch_requests == 2 and second.result(10).batch_requests == 2
    assert model.calls == [2]


def test_a_request_given_up_while_being_read_stops_holding_the_batch():
    model, batcher = Model(), Batcher(max_batch_size=32, max_wait_ms=20_000)
    with batcher.arriving():
        future = batcher.submit(("m", "s"), model, request(1.0))
        time.sleep(0.1)
        assert not future.done()
    # A bad request ends its arrival without reaching the batcher: the batch goes, rather
    # than waiting the configured 20 s.
    assert future.result(10).outputs["y"].tolist() == [[2.0]]


def test_a_cancelled_request_is_dropped_and_the_runner_keeps_serving():
    model, batcher = Model(), Batcher(max_batch_size=32, max_wait_ms=1)
    model.release.clear()
    holding = batcher.submit(("m", "s"), model, request(0.5))
    assert model.busy.wait(10)
    cancelled = batcher.submit(("m", "s"), model, request(1.0))
    kept = batcher.submit(("m", "s"), model, request(2.0))
    assert cancelled.cancel()  # a gRPC client that went away
    model.release.set()
    assert holding.result(10).outputs["y"].tolist() == [[1.0]]
    assert kept.result(10).outputs["y"].tolist() == [[4.0]]
    assert model.calls == [1, 1]  # the cancelled request never reached the model
    assert batcher.call(("m", "s"), model, request(3.0)).outputs["y"].tolist() == [[6.0]]


def test_an_idle_runner_ends_and_the_next_request_starts_another(monkeypatch):
    from framework.serving import batching

    monkeypatch.setattr(batching, "IDLE_S", 0.05)
    model, batcher = Model(), Batcher(max_batch_size=32, max_wait_ms=1)
    assert batcher.call(("m", "s"), model, request(1.0)).outputs["y"].tolist() == [[2.0]]
    deadline = time.monotonic() + 10
    while batcher._queues and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not batcher._queues, "the idle runner did not end"
    assert batcher.call(("m", "s"), model, request(2.0)).outputs["y"].tolist() == [[4.0]]


def test_asyncio_callers_await_the_batch_without_blocking_their_loop():
    import asyncio

    model, batcher = Model(), Batcher(max_batch_size=32, max_wait_ms=1)

    async def main():
        model.release.clear()
        holding = asyncio.wrap_future(batcher.submit(("m", "s"), model, request(0.5)))
        await asyncio.to_thread(model.busy.wait, 10)
        queued = [asyncio.wrap_future(batcher.submit(("m", "s"), model, request(v)))
                  for v in (1.0, 2.0, 3.0)]
        model.release.set()  # the loop was free all along: this line ran while it waited
        await holding
        return await asyncio.gather(*queued)

    results = asyncio.run(main())
    assert [r.outputs["y"].tolist() for r in results] == [[[2.0]], [[4.0]], [[6.0]]]
    assert model.calls == [1, 3]
