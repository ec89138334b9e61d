"""The dashboard over stores that are empty, of another pipeline, with a run in progress,
a failed run or a missing artifact folder: each page says so plainly, and the server keeps
serving. Fast: small stores written through ml_metadata's API (tests/ui/synthetic.py)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from framework.ui.app import Dashboard
from framework.ui.server import start_in_thread
from tests.ct.helpers import settings_for
from tests.ui.synthetic import SyntheticStore

PAGES = ("/runs", "/data", "/model", "/lineage", "/ct", "/release")


def get(url: str) -> tuple[int, str, dict]:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


@pytest.fixture
def serve():
    servers = []

    def start(settings):
        server = start_in_thread(Dashboard(settings, definition=False))
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.stop()


def _store(tmp_path):
    return SyntheticStore(tmp_path / "metadata.sqlite", tmp_path / "artifacts")


def test_no_store_yet_every_page_says_so_and_creates_no_file(tmp_path, serve):
    settings = settings_for(tmp_path)
    url = serve(settings)
    for page in PAGES[:4]:
        status, body, _ = get(url + page)
        assert status == 200, page
        assert "no ML-Metadata store yet at" in body and "mlops run" in body, page
    assert not (tmp_path / "metadata.sqlite").exists()
    status, body, _ = get(url + "/ct")
    assert status == 200 and "No CT decision recorded yet" in body
    status, body, _ = get(url + "/release")
    assert status == 200 and "No versions yet" in body


def test_an_empty_store_says_it_holds_no_runs(tmp_path, serve):
    _store(tmp_path)  # the tables, no run
    status, body, _ = get(serve(settings_for(tmp_path)) + "/runs")
    assert status == 200 and "holds no runs yet" in body


def test_a_store_of_another_pipeline_names_the_pipelines_it_holds(tmp_path, serve):
    store = _store(tmp_path)
    store.add_run("chicago", "2026-01-01T00:00:00.000001")
    url = serve(settings_for(tmp_path))
    status, body, _ = get(url + "/data")
    assert status == 200
    assert "holds no runs of pipeline &#39;taxi&#39;; it holds runs of: chicago" in body
    status, body, _ = get(url + "/runs?pipeline=chicago")  # the filter reaches it
    assert status == 200 and "2026-01-01T00:00:00.000001" in body


def test_a_run_in_progress_is_shown_running_with_the_nodes_it_has_not_reached(tmp_path, serve):
    store = _store(tmp_path)
    store.add_run("taxi", "2026-01-01T00:00:00.000001")
    store.add_run("taxi", "2026-01-02T00:00:00.000001", {"Trainer": "running"})
    url = serve(settings_for(tmp_path))
    status, body, _ = get(url + "/runs?status=running")
    assert status == 200 and "2026-01-02T00:00:00.000001" in body
    assert "2026-01-01T00:00:00.000001" not in body
    status, body, _ = get(url + "/runs/2026-01-02T00%3A00%3A00.000001")
    assert status == 200 and 'id="in-progress"' in body and "Trainer running now" in body
    assert 'class="node state-not-run" data-node="Pusher"' in body
    assert 'class="node state-running" data-node="Trainer"' in body


def test_a_failed_run_shows_the_recorded_error_and_the_log_from_the_failure(tmp_path, serve):
    settings = settings_for(tmp_path)
    store = _store(tmp_path)
    run = "2026-01-03T00:00:00.000001"
    store.add_run("taxi", run, {"Trainer": "failed"}, error="ValueError: no label column")
    logs = tmp_path / "pipeline_root" / "logs"
    logs.mkdir(parents=True)
    (logs / f"{run.replace(':', '-')}.log").write_text(
        "INFO starting\n" * 300 + "Trainer failed:\nTraceback (most recent call last):\n"
        '  File "trainer.py", line 3\nValueError: no label column\n')
    status, body, _ = get(serve(settings) + "/runs/" + run.replace(":", "%3A"))
    assert status == 200 and 'id="failure"' in body
    assert "ValueError: no label column" in body
    tail = body.split('id="log-tail">', 1)[1].split("</pre>", 1)[0]
    assert tail.startswith("Trainer failed:") and "Traceback" in tail


def test_a_missing_artifact_folder_is_named_on_the_run_and_artifact_pages(tmp_path, serve):
    store = _store(tmp_path)
    run = store.add_run("taxi", "2026-01-04T00:00:00.000001", make_folders=False)
    url = serve(settings_for(tmp_path))
    status, body, _ = get(url + "/runs/2026-01-04T00%3A00%3A00.000001")
    assert status == 200 and "folder missing" in body
    examples = store.store.get_artifacts_by_type("Examples")[0]
    status, body, _ = get(url + f"/artifacts/{examples.id}")
    assert status == 200 and 'id="missing-folder"' in body and examples.uri in body
    status, body, _ = get(url + "/data")
    assert status == 200 and "has no statistics yet" not in body  # it has; its file is missing
    assert "the statistics of split &#39;train&#39; are missing" in body
    assert run.name in get(url + "/runs")[1]


def test_an_unexpected_error_is_a_one_line_page_and_the_server_keeps_serving(tmp_path, serve,
                                                                             monkeypatch):
    store = _store(tmp_path)
    store.add_run("taxi", "2026-01-05T00:00:00.000001")
    url = serve(settings_for(tmp_path))

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr("framework.ui.runs.runs_page", broken)
    status, body, _ = get(url + "/runs")
    assert status == 500 and "RuntimeError: disk on fire" in body
    assert "Traceback" not in body and "second line" not in body
    monkeypatch.undo()
    status, body, _ = get(url + "/runs")
    assert status == 200 and "2026-01-05T00:00:00.000001" in body


def test_runs_are_filtered_by_status_paginated_and_show_their_ct_trigger(tmp_path, serve):
    from framework.ct import history

    settings = settings_for(tmp_path)
    store = _store(tmp_path)
    for i in range(30):
        store.add_run("taxi", f"2026-02-{i + 1:02d}T00:00:00.000001",
                      {"Trainer": "failed"} if i % 10 == 3 else {"CsvExampleGen": "cached"}
                      if i % 2 else None)
    history.append(settings, {"action": "run", "pipeline": "taxi", "fired": ["drift"],
                              "command": "run", "run": {"run_id": "2026-02-30T00:00:00.000001"}})
    url = serve(settings)
    status, body, _ = get(url + "/runs")
    assert status == 200 and "failed 3" in body and "succeeded 27" in body
    assert body.count('class="run status-') == 25 and "page 1 of 2" in body
    first = body.split('data-run="2026-02-30T00:00:00.000001"', 1)[1].split("</tr>", 1)[0]
    assert "<td>drift</td>" in first
    status, body, _ = get(url + "/runs?status=failed")
    assert body.count('class="run status-failed"') == 3 and 'class="run status-succ' not in body
    status, body, _ = get(url + "/runs?page=2")
    assert body.count('class="run status-') == 5 and "2026-02-01T00:00:00.000001" in body
    status, body, _ = get(url + "/runs?status=bogus")
    assert status == 400 and "unknown status" in body


def test_read_only_pages_from_this_server_only(tmp_path, serve):
    url = serve(settings_for(tmp_path))
    request = urllib.request.Request(url + "/runs", data=b"x", method="POST")
    try:
        urllib.request.urlopen(request, timeout=30)
        raise AssertionError("a POST was accepted")
    except urllib.error.HTTPError as exc:
        assert exc.code == 405
    status, body, headers = get(url + "/runs")
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert "app;dur=" in headers["Server-Timing"]
    assert '<script src="/static/plotly.min.js"' in body and "https://" not in body
    status, script, headers = get(url + "/static/plotly.min.js")
    assert status == 200 and "plotly.js" in script[:400] and len(script) > 1_000_000
    assert get(url + "/static/../app.py")[0] == 404


def test_the_command_warns_when_it_binds_beyond_this_machine(tmp_path):
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {**os.environ, "MLOPS_ENV": "test", "MLOPS_PROJECT_ROOT": str(ROOT),
           "MLOPS_METADATA__SQLITE_PATH": str(tmp_path / "metadata.sqlite"),
           "MLOPS_PIPELINE__PIPELINE_ROOT": str(tmp_path / "root")}
    process = subprocess.Popen([sys.executable, "-m", "framework", "ui", "--host", "0.0.0.0",
                                "--port", "0"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        first, second = process.stdout.readline(), process.stdout.readline()
    finally:
        process.terminate()
        process.wait(timeout=60)
    assert first.startswith("warning: --host 0.0.0.0: the dashboard is reachable from other")
    assert "dashboard of taxi [test] on http://0.0.0.0:" in second and "read-only" in second


def test_a_port_in_use_is_one_error_line():
    import socket

    from framework.core.errors import UserError
    from framework.ui.server import is_loopback, make_server

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UserError, match=f"cannot listen on 127.0.0.1:{port}"):
            make_server(lambda e, s: [], "127.0.0.1", port)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")


def test_ct_page_lists_decisions_newest_first_with_their_evidence(tmp_path, serve):
    from framework.ct import history

    settings = settings_for(tmp_path)
    for i, value in enumerate((0.05, 0.4)):
        history.append(settings, {"command": "check", "pipeline": "taxi", "env": "test",
                                  "time": f"2026-01-0{i + 1}T00:00:00+00:00", "action": "none",
                                  "fired": ["drift"] if value > 0.2 else [],
                                  "triggers": [{"name": "drift", "fired": value > 0.2,
                                                "reason": f"measured {value}", "error": None,
                                                "evidence": [{"feature": "fare", "value": value,
                                                              "threshold": 0.2,
                                                              "statistic": "jsd"}]}]})
    status, body, _ = get(serve(settings) + "/ct")
    assert status == 200 and "2 decisions · 1 fired" in body
    assert body.index("measured 0.4") < body.index("measured 0.05")
    assert 'id="drift-history"' in body and json.dumps(0.4) in body
