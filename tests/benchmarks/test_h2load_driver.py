"""The serving benchmark's h2load load generator (benchmarks/h2load_driver.py): what it
reports from h2load's output and log, and that a gRPC server really receives the framed
request it sends. No timing is asserted."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import threading
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import h2load_driver  # noqa: E402

OUTPUT = ("finished in 2.00s, 500.25 req/s, 100KB/s\n"
          "requests: 4 total, 4 started, 4 done, 3 succeeded, 1 failed, 0 errored, 0 timeout\n")


def _log(*rows) -> str:
    return "".join(f"1796336000000000\t{status}\t{us}\n" for status, us in rows)


def test_summary_takes_latency_percentiles_of_answered_requests_and_h2loads_rate():
    log = _log(*[(200, us) for us in range(1000, 101000, 1000)])  # 1 to 100 ms
    row = h2load_driver.summarize(OUTPUT, log, total=100)
    assert (row["requests"], row["p50_ms"], row["p99_ms"], row["max_ms"]) == (100, 50.0, 99.0,
                                                                           100.0)
    assert row["rps"] == 500.25
    assert row["http_failed"] == 0


def test_a_non_2xx_answer_and_an_unanswered_request_count_as_failed():
    log = _log((200, 2000), (503, 1000), (200, 4000))  # 3 logged, 4 asked for
    row = h2load_driver.summarize(OUTPUT, log, total=4)
    assert row["requests"] == 2
    assert row["http_failed"] == 2
    assert row["non_2xx"] == 1
    assert row["p50_ms"] == 2.0  # the 503's duration is not a latency


def test_server_counts_add_up_requests_and_errors_of_every_version(tmp_path):
    stats = tmp_path / "stats.json"
    assert h2load_driver.answered(stats) is None  # not written yet
    stats.write_text(json.dumps({"updated": 1796336000.5,
                                 "versions": {"1": {"requests": 80, "errors": 1},
                                              "2": {"requests": 20, "errors": 3}}}))
    assert h2load_driver.answered(stats) == (100, 4, 1796336000.5)


def test_grpc_frame_is_a_zero_flag_and_big_endian_length_before_the_message():
    assert h2load_driver.grpc_frame(b"abc") == b"\x00\x00\x00\x00\x03abc"


def test_commands_speak_http1_for_rest_and_grpc_headers_over_http2(tmp_path):
    rest = h2load_driver.command("rest", 8501, "/v1/models/taxi:predict", 8, 100,
                                 tmp_path / "b", tmp_path / "log")
    grpc = h2load_driver.command("grpc", 8500, "/tensorflow.serving.PredictionService/Predict",
                                 8, 100, tmp_path / "b", tmp_path / "log")
    assert "--h1" in rest and "--h1" not in grpc
    assert "content-type: application/grpc" in grpc and "te: trailers" in grpc
    assert rest[rest.index("-c") + 1] == "8" and rest[rest.index("-m") + 1] == "1"
    assert grpc[-1] == "http://127.0.0.1:8500/tensorflow.serving.PredictionService/Predict"


@pytest.fixture
def predict_server():
    """A grpc.aio PredictionService that records each Predict request it receives."""
    grpc = pytest.importorskip("grpc")
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    received = []

    class Recording(prediction_service_pb2_grpc.PredictionServiceServicer):
        async def Predict(self, request, context):
            received.append(request)
            return predict_pb2.PredictResponse()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start():
        server = grpc.aio.server()
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Recording(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        return server, port

    server, port = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    yield port, received
    asyncio.run_coroutine_threadsafe(server.stop(0), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def test_h2load_delivers_every_framed_predict_request_to_a_grpc_server(tmp_path, predict_server):
    if not shutil.which("h2load"):
        pytest.fail(f"h2load not found: {h2load_driver.INSTALL_HINT} (.ci/run installs it)")
    from tensorflow_serving.apis import predict_pb2

    port, received = predict_server
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "taxi"
    request.inputs["x"].float_val.append(0.5)
    body = tmp_path / "grpc.bin"
    body.write_bytes(h2load_driver.grpc_frame(request.SerializeToString()))
    log = tmp_path / "h2load.log"
    args = h2load_driver.command("grpc", port, "/tensorflow.serving.PredictionService/Predict",
                                 2, 20, body, log)
    output, log_text, cpu_s = h2load_driver.run(args, log, timeout_s=60)
    row = h2load_driver.summarize(output, log_text, total=20)
    assert row["requests"] == 20 and row["http_failed"] == 0
    assert len(received) == 20
    assert all(r == request for r in received)
    assert cpu_s >= 0
