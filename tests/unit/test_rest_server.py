"""The REST API's HTTP server (tornado on the serving event loop) around the service core:
what reaches the core, what the client gets back, and how it stops. The core is an
autospec double of PredictionService; tests/release drives the real one with a real model."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from unittest import mock

import pytest
import requests

from framework.core.errors import UserError
from framework.serving.app import PredictionService
from framework.serving.server import RestServer, ServingLoop


@pytest.fixture
def loop():
    serving_loop = ServingLoop()
    yield serving_loop
    serving_loop.close()


def core(answer, max_request_bytes: int = 1024):
    service = mock.create_autospec(PredictionService, instance=True)
    service.max_request_bytes = max_request_bytes
    service.answer_async.side_effect = answer
    return service


async def echo(environ):
    body = environ["wsgi.input"].read()
    seen = {"method": environ["REQUEST_METHOD"], "path": environ["PATH_INFO"],
            "length": environ.get("CONTENT_LENGTH"), "body": body.decode(),
            "request_id": environ.get("HTTP_X_REQUEST_ID")}
    return 201, [("X-Model-Version", "7"), ("Content-Type", "application/json")], \
        json.dumps(seen).encode()


def test_the_core_gets_the_request_as_an_environ_and_its_answer_is_sent_as_is(loop):
    server = RestServer(core(echo), loop, "127.0.0.1", 0)
    try:
        answer = requests.post(f"http://127.0.0.1:{server.port}/v1/models/taxi%3Apredict",
                               data=b'{"instances": []}', headers={"X-Request-Id": "r1"},
                               timeout=10)
    finally:
        server.stop()
    assert answer.status_code == 201
    assert answer.headers["X-Model-Version"] == "7"
    assert answer.headers["Content-Type"] == "application/json"
    assert "ETag" not in answer.headers
    assert answer.json() == {"method": "POST", "path": "/v1/models/taxi:predict", "length": "17",
                             "body": '{"instances": []}', "request_id": "r1"}


def test_every_method_reaches_the_core(loop):
    server = RestServer(core(echo), loop, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.port}/v1/models/taxi"
    try:
        methods = [requests.request(m, url, timeout=10).status_code
                   for m in ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD")]
    finally:
        server.stop()
    assert methods == [201] * 7


def test_requests_are_answered_while_another_waits_for_its_model_call(loop):
    release = threading.Event()

    async def answer(environ):
        if environ["PATH_INFO"] == "/slow":  # a model call that has not finished
            await asyncio.get_running_loop().run_in_executor(None, release.wait, 30)
        return 200, [], b"{}"

    server = RestServer(core(answer), loop, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{server.port}"
    slow = threading.Thread(target=requests.get, args=(base + "/slow",), kwargs={"timeout": 30})
    slow.start()
    try:
        quick = [requests.get(f"{base}/quick", timeout=10).status_code for _ in range(20)]
        assert slow.is_alive()  # the slow request is still waiting: nothing waited for it
    finally:
        release.set()
        slow.join(30)
        server.stop()
    assert quick == [200] * 20


def test_a_stop_lets_requests_in_flight_finish_and_then_refuses_connections(loop):
    started, release = threading.Event(), threading.Event()

    async def answer(environ):
        started.set()
        await asyncio.get_running_loop().run_in_executor(None, release.wait, 30)
        return 200, [], b'{"done": true}'

    server = RestServer(core(answer), loop, "127.0.0.1", 0)
    answers = []
    client = threading.Thread(target=lambda: answers.append(requests.get(
        f"http://127.0.0.1:{server.port}/v1/models/taxi", timeout=30)))
    client.start()
    assert started.wait(10)
    stopping = threading.Thread(target=server.stop, kwargs={"grace_s": 20})
    stopping.start()
    release.set()
    stopping.join(30)
    client.join(30)
    assert [a.json() for a in answers] == [{"done": True}]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{server.port}/v1/models/taxi", timeout=5)


def test_a_port_in_use_is_one_user_error(loop):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UserError, match=f"cannot listen on 127.0.0.1:{port}: "):
            RestServer(core(echo), loop, "127.0.0.1", port)


def test_a_body_past_the_server_cap_is_refused_and_the_server_keeps_serving(loop):
    service = core(echo, max_request_bytes=1024)
    server = RestServer(service, loop, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.port}/v1/models/taxi:predict"
    try:
        try:  # past 4x the limit: a bare 400, or the connection reset under the client
            refused = requests.post(url, data=b"x" * (1024 + 65536 + 1), timeout=10).status_code
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
            refused = "closed"
        within = requests.post(url, data=b"x" * 2048, timeout=10)  # the core words this one
    finally:
        server.stop()
    assert refused in (400, "closed")
    assert service.answer_async.call_count == 1  # only the request within the cap reached the core
    assert within.status_code == 201 and within.json()["length"] == "2048"


def test_no_log_line_per_request(loop, caplog):
    server = RestServer(core(echo), loop, "127.0.0.1", 0)
    try:
        with caplog.at_level(logging.DEBUG):
            for _ in range(3):
                requests.get(f"http://127.0.0.1:{server.port}/v1/models/taxi", timeout=10)
    finally:
        server.stop()
    assert [r for r in caplog.records if r.name.startswith("tornado")] == []
