"""Latency (p50/p99) and throughput of `mlops serve` over REST and gRPC.

    python benchmarks/serving_bench.py                     # newest model in the local serving dir
    python benchmarks/serving_bench.py --model .mlops/local/serving/taxi/1796225194

For batching on and off, `mlops serve` is started on 127.0.0.1 over a temporary registry
whose production version (and canary, for the split) is the given SavedModel. Each level
sends a bounded number of one-example predictions from keep-alive clients. By default
nghttp2's h2load sends them (benchmarks/h2load_driver.py: a load generator in C, HTTP/1.1
for REST and HTTP/2 for gRPC), so that the clients take as little as they can of the cores
they share with the server. `--load-generator python` sends them from Python clients
instead, one thread per client in this process: REST by a lean HTTP/1.1 client on a plain
socket (`--rest-client http.client`: the standard library's), gRPC by the official
tensorflow-serving-api stubs. Levels: protocol x clients (1, 8, 32) x traffic (production
alone, or a 20 % canary). Then a release under load: 32 Python clients (half REST, half
gRPC, each answer checked) keep sending while the canary goes out, is promoted and is
rolled back; every failed request is counted. Last, the floor: the same load generator
against servers that answer without any work (benchmarks/empty_servers.py), which is as
fast as these clients and stacks go here. Each level also records the CPU time per request
of the server process and of the clients.

Writes benchmarks/results/<date>-<commit>/serving.json and serving.md. Only loopback is
used; every loop is bounded by a request count and a time limit.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import h2load_driver  # noqa: E402
import results_report  # noqa: E402
import speed_probe  # noqa: E402

from pipelines.taxi.features import EXAMPLE_INSTANCE as INSTANCE  # noqa: E402

TIME_LIMIT_S = 120  # per level
PRODUCTION, CANARY = "1", "2"
GOALS = {"grpc_p99_ms_8": 10.0, "rest_p99_ms_8": 20.0, "throughput_32_vs_baseline": 3.0}
BASELINE_RPS_32 = 240.0  # REST at 32 clients before batching and gRPC (the figure)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="SavedModel folder")
    parser.add_argument("--requests", type=int, default=2000, help="requests per level")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--protocols", nargs="+", default=["rest", "grpc"],
                        choices=["rest", "grpc"])
    parser.add_argument("--threads", type=int, default=8,
                        help="server threads for unbatched model calls (release.threads)")
    parser.add_argument("--release-requests", type=int, default=3000,
                        help="requests sent during the release under load (0 skips it)")
    parser.add_argument("--load-generator", choices=["h2load", "python"], default="h2load",
                        help="who sends the levels' requests: nghttp2's h2load (default), or "
                             "Python clients in this process (the official gRPC stubs and "
                             "--rest-client)")
    parser.add_argument("--rest-client", choices=sorted(REST_CLIENTS), default="socket",
                        help="the Python REST client: a lean socket client (default) or "
                             "http.client")
    parser.add_argument("--no-floor", dest="floor", action="store_false",
                        help="skip the empty servers' floor")
    parser.add_argument("--out", default=None, help="results folder "
                        "(default: benchmarks/results/<date>-<commit>)")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    return parser.parse_args(argv)


def newest_model() -> Path:
    from framework.settings import load_settings

    serving = Path(load_settings("taxi", "local").pipeline.serving_dir)
    versions = sorted((p for p in serving.glob("*") if p.name.isdigit()),
                      key=lambda p: int(p.name))
    if not versions:
        sys.exit(f"no model under {serving}: run `mlops run` first or pass --model")
    return versions[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`mlops serve` in a subprocess over its own registry (production, and a canary copy)."""

    def __init__(self, model: Path, workdir: Path, threads: int, batching: bool) -> None:
        from framework.release.registry import Registry, stats_path_for

        serving = workdir / "serving"
        for version in (PRODUCTION, CANARY):
            shutil.copytree(model, serving / version)  # the registry lists real folders only
        state = workdir / "bench.release.json"
        self.stats_path = Path(stats_path_for(state))
        self.registry = Registry(state, str(serving), "taxi")
        self.registry.promote(PRODUCTION, by="serving_bench")
        self.grpc_port = free_port()
        env = dict(os.environ, MLOPS_PIPELINE__SERVING_DIR=str(serving),
                   MLOPS_RELEASE__STATE_PATH=str(state), MLOPS_RELEASE__THREADS=str(threads),
                   MLOPS_RELEASE__BATCHING__ENABLED=str(batching).lower(),
                   MLOPS_RELEASE__ROLLBACK__ENABLED="false")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "framework", "serve", "--host", "127.0.0.1", "--port", "0",
             "--grpc-port", str(self.grpc_port)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if not match:
            self.stop()
            sys.exit(f"mlops serve did not start: {line!r}")
        self.port = int(match.group(1))

    def set_canary(self, percent: int) -> None:
        if percent:
            self.registry.canary(CANARY, percent, by="serving_bench")
        else:
            self.registry.rollback(by="serving_bench")
        self.wait_for(2 if percent else 1)

    def wait_for(self, versions: int, timeout: float = 60) -> None:
        """Until the server's status lists `versions` versions (it follows the registry)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            conn.request("GET", "/v1/models/taxi")
            status = json.loads(conn.getresponse().read())
            conn.close()
            if len(status["model_version_status"]) >= versions:
                return
            time.sleep(0.05)
        raise RuntimeError("the server did not follow the registry")

    def answered(self, since: float, timeout: float = 10) -> tuple[int, int]:
        """(requests, errors) the server has counted, from a stats file written after
        `since` (time.time()): its writer writes at most twice a second."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            counts = h2load_driver.answered(self.stats_path)
            if counts is not None and counts[2] > since:
                return counts[:2]
            time.sleep(0.1)
        raise RuntimeError("the server's stats file was not updated")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class SocketRestClient:
    """Keep-alive HTTP/1.1 on a plain socket: the request's bytes are built once and the
    answer is read by its Content-Length (mlops serve always sends one)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        body = json.dumps({"instances": [INSTANCE]}).encode()
        self.request = (b"POST /v1/models/taxi:predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        b"Content-Type: application/json\r\nContent-Length: "
                        + str(len(body)).encode() + b"\r\n\r\n" + body)
        self.pending = b""  # bytes read past the last answer

    def send(self) -> bool:
        self.sock.sendall(self.request)
        while b"\r\n\r\n" not in self.pending:
            self.pending += self._recv()
        head, _, rest = self.pending.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = next((int(line.split(b":", 1)[1]) for line in lines[1:]
                       if line.lower().startswith(b"content-length:")), 0)
        while len(rest) < length:
            rest += self._recv()
        self.pending = rest[length:]
        return lines[0].split(b" ", 2)[1] == b"200"

    def _recv(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        return data

    def close(self) -> None:
        self.sock.close()


class HttpClientRestClient:
    """Keep-alive HTTP/1.1 with the standard library's http.client."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.body = json.dumps({"instances": [INSTANCE]})

    def send(self) -> bool:
        self.conn.request("POST", "/v1/models/taxi:predict", self.body,
                          {"Content-Type": "application/json"})
        response = self.conn.getresponse()
        response.read()
        return response.status == 200

    def close(self) -> None:
        self.conn.close()


def predict_request():
    """The one-example PredictRequest every gRPC client sends."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "taxi"
    for name, value in INSTANCE.items():
        # The signature's dtypes: Python ints are int64 and floats float32 in the model.
        dtype = {int: tf.int64, float: tf.float32, str: tf.string}[type(value)]
        request.inputs[name].CopyFrom(tf.make_tensor_proto([value], dtype=dtype))
    return request


class GrpcClient:
    def __init__(self, port: int) -> None:
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        self.grpc = grpc
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.request = predict_request()

    def send(self) -> bool:
        try:
            self.stub.Predict(self.request, timeout=30)
            return True
        except self.grpc.RpcError:
            return False

    def close(self) -> None:
        self.channel.close()


class H2loadClients:
    """Levels driven by h2load (h2load_driver.py), the request bodies written once."""

    PATHS = {"rest": "/v1/models/taxi:predict",
             "grpc": "/tensorflow.serving.PredictionService/Predict"}

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.bodies = {"rest": workdir / "rest.json", "grpc": workdir / "grpc.bin"}
        self.bodies["rest"].write_text(json.dumps({"instances": [INSTANCE]}))
        self.bodies["grpc"].write_bytes(
            h2load_driver.grpc_frame(predict_request().SerializeToString()))
        self.log = workdir / "h2load.log"

    def warm_up(self, protocol: str, port: int, server: "Server | None" = None) -> None:
        """100 requests; with a server, until its stats file has counted them, so that the
        next level's counts start from a current reading."""
        self._run(protocol, port, 4, 100)
        if server is not None:
            server.answered(since=time.time())

    def drive(self, protocol: str, port: int, clients: int, total: int,
              server: "Server | None" = None, server_pid: int | None = None) -> dict:
        """One level. Failures: requests h2load saw no 2xx answer to, or, against the
        prediction service (`server`), those its counters did not answer (a gRPC error has
        HTTP status 200), whichever is more."""
        import psutil

        process = psutil.Process(server_pid) if server_pid else None
        cpu_before = sum(process.cpu_times()[:2]) if process else 0.0
        counts_before = server.answered(since=0) if server else None
        output, log, client_cpu_s = self._run(protocol, port, clients, total)
        ended = time.time()
        server_cpu_s = sum(process.cpu_times()[:2]) - cpu_before if process else None
        row = h2load_driver.summarize(output, log, total)
        failed = row.pop("http_failed")
        row.pop("non_2xx")
        if server is not None:
            requests, errors = server.answered(since=ended)
            answered = (requests - counts_before[0]) - (errors - counts_before[1])
            failed = max(failed, total - answered)
        row = {"requests": row["requests"], "failed": failed, **row}
        if server_cpu_s is not None and row["requests"]:
            row["server_cpu_ms"] = round(server_cpu_s * 1000 / row["requests"], 2)
        if row["requests"]:
            row["client_cpu_ms"] = round(client_cpu_s * 1000 / row["requests"], 2)
        return row

    def _run(self, protocol: str, port: int, clients: int, total: int):
        args = h2load_driver.command(protocol, port, self.PATHS[protocol], clients, total,
                                     self.bodies[protocol], self.log)
        return h2load_driver.run(args, self.log, TIME_LIMIT_S * 2)


REST_CLIENTS = {"socket": SocketRestClient, "http.client": HttpClientRestClient}
REST_CLIENT_NAMES = {"socket": "a lean socket client (request bytes built once, answer read by "
                               "its Content-Length)", "http.client": "Python's http.client"}


def make_clients(protocols: list[str], clients: int, port: int, grpc_port: int,
                 rest_client: str = "socket") -> list:
    """`clients` clients, shared out over the protocols in turn."""
    rest = REST_CLIENTS[rest_client]
    return [rest(port) if protocols[i % len(protocols)] == "rest" else GrpcClient(grpc_port)
            for i in range(clients)]


def drive(clients: list, total: int, during=None, server_pid: int | None = None) -> dict:
    """Send `total` requests from the clients (one thread each); `during` runs meanwhile.
    With server_pid, also that process's CPU time (user + system) per request."""
    import psutil

    server = psutil.Process(server_pid) if server_pid else None
    cpu_before = sum(server.cpu_times()[:2]) if server else 0.0
    clients_cpu_before = time.process_time()
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    remaining = [total]
    deadline = time.monotonic() + TIME_LIMIT_S

    def work(client):
        mine, failed = [], 0
        while time.monotonic() < deadline:
            with lock:
                if remaining[0] <= 0:
                    break
                remaining[0] -= 1
            started = time.perf_counter()
            failed += not client.send()
            mine.append((time.perf_counter() - started) * 1000)
        with lock:
            latencies.extend(mine)
            failures[0] += failed

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    started = time.perf_counter()
    for t in threads:
        t.start()
    if during is not None:
        during()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    server_cpu_s = sum(server.cpu_times()[:2]) - cpu_before if server else None
    clients_cpu_s = time.process_time() - clients_cpu_before
    for c in clients:
        c.close()
    latencies.sort()

    def pct(q):
        return round(latencies[max(0, int(len(latencies) * q / 100 + 0.999999) - 1)], 2)

    row = {"requests": len(latencies), "failed": failures[0], "p50_ms": pct(50),
           "p99_ms": pct(99), "max_ms": pct(100), "rps": round(len(latencies) / wall, 1)}
    if server_cpu_s is not None and latencies:
        row["server_cpu_ms"] = round(server_cpu_s * 1000 / len(latencies), 2)
    if latencies:
        row["client_cpu_ms"] = round(clients_cpu_s * 1000 / len(latencies), 2)
    return row


def measure_levels(server: Server, args, batching: bool,
                   h2load: H2loadClients | None) -> list[dict]:
    """Every protocol x clients level, production alone then with a 20 % canary; with
    h2load when given, else with the Python clients."""
    rows = []
    for canary in (0, 20):
        if canary:
            server.set_canary(canary)
        for protocol in args.protocols:
            port = server.port if protocol == "rest" else server.grpc_port
            if h2load:
                h2load.warm_up(protocol, port, server)
            else:
                drive(make_clients([protocol], 4, server.port, server.grpc_port,
                                   args.rest_client), 100)
            for n in args.clients:
                if h2load:
                    figures = h2load.drive(protocol, port, n, args.requests, server,
                                           server.proc.pid)
                else:
                    figures = drive(make_clients([protocol], n, server.port, server.grpc_port,
                                                 args.rest_client), args.requests,
                                    server_pid=server.proc.pid)
                row = {"protocol": protocol, "batching": batching, "canary_percent": canary,
                       "clients": n, **figures}
                print(f"  {_describe(row)}", flush=True)
                rows.append(row)
    server.set_canary(0)
    return rows


def release_under_load(server: Server, args) -> dict:
    """Canary out, promoted, rolled back, while 32 clients keep sending."""
    steps: list[str] = []

    def release():
        time.sleep(0.5)
        server.set_canary(20)
        steps.append("canary 20 %")
        time.sleep(0.5)
        server.registry.promote(by="serving_bench")
        server.wait_for(1)
        steps.append("promote")
        time.sleep(0.5)
        server.registry.rollback(by="serving_bench")
        time.sleep(0.5)
        steps.append("rollback")

    clients = make_clients(args.protocols, 32, server.port, server.grpc_port, args.rest_client)
    return {"clients": 32, "protocols": args.protocols, "steps": steps,
            **drive(clients, args.release_requests, during=release)}


def measure_floor(args, h2load: H2loadClients | None) -> list[dict]:
    """The same clients against servers that do no work (benchmarks/empty_servers.py)."""
    rows = []
    for protocol in args.protocols:
        port = free_port()
        proc = subprocess.Popen([sys.executable, str(HERE / "empty_servers.py"), protocol,
                                 str(port)], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        try:
            if proc.stdout.readline().strip() != "ready":
                sys.exit(f"the empty {protocol} server did not start")
            if h2load:
                h2load.warm_up(protocol, port)
            else:
                drive(make_clients([protocol], 4, port, port, args.rest_client), 100)
            for n in args.clients:
                figures = (h2load.drive(protocol, port, n, args.requests, server_pid=proc.pid)
                           if h2load else
                           drive(make_clients([protocol], n, port, port, args.rest_client),
                                 args.requests, server_pid=proc.pid))
                row = {"protocol": protocol, "server": "empty", "clients": n, **figures}
                print(f"  floor {protocol:4} clients {n:2}: p50 {row['p50_ms']} ms, p99 "
                      f"{row['p99_ms']} ms, {row['rps']} req/s", flush=True)
                rows.append(row)
        finally:
            proc.kill()
            proc.wait()
    return rows


def _describe(row: dict) -> str:
    return (f"{row['protocol']:4} batching {'on ' if row['batching'] else 'off'} canary "
            f"{row['canary_percent']:2}% clients {row['clients']:2}: p50 {row['p50_ms']} ms, "
            f"p99 {row['p99_ms']} ms, slowest {row.get('max_ms')} ms, {row['rps']} req/s, "
            f"{row['failed']} failed, server CPU "
            f"{row.get('server_cpu_ms')} ms/request, client CPU {row.get('client_cpu_ms')} ms/request")


def goals(rows: list[dict], release: dict | None) -> list[dict]:
    def best(protocol, clients, key, pick):
        values = [r[key] for r in rows if r["protocol"] == protocol and r["clients"] == clients
                  and r["batching"] and r["canary_percent"] == 0]
        return pick(values) if values else None

    grpc_p99 = best("grpc", 8, "p99_ms", min)
    rest_p99 = best("rest", 8, "p99_ms", min)
    top = max([r["rps"] for r in rows if r["clients"] == 32 and r["batching"]], default=None)
    out = [
        {"goal": "gRPC p99 under 10 ms at 8 clients", "value": grpc_p99,
         "met": grpc_p99 is not None and grpc_p99 < GOALS["grpc_p99_ms_8"]},
        {"goal": "REST p99 under 20 ms at 8 clients", "value": rest_p99,
         "met": rest_p99 is not None and rest_p99 < GOALS["rest_p99_ms_8"]},
        {"goal": f"throughput at 32 clients at least 3x {BASELINE_RPS_32:.0f} requests/s",
         "value": top, "met": top is not None and top >= 3 * BASELINE_RPS_32},
    ]
    if release:
        out.append({"goal": "no failed request during promote and rollback under load",
                    "value": release["failed"], "met": release["failed"] == 0})
    return out


def _clients_text(meta: dict) -> str:
    python = (f"REST client {REST_CLIENT_NAMES[meta.get('rest_client', 'http.client')]}, "
              "gRPC client the official tensorflow-serving-api stubs")
    if meta.get("load_generator", "python") == "h2load":
        return ("levels and floor sent by nghttp2's h2load (C, one thread; HTTP/1.1 for REST, "
                "HTTP/2 for gRPC; failures also counted by the server); the release under "
                f"load by Python clients ({python}).")
    return f"Python clients in the benchmark's process: {python}."


def render(results: dict) -> str:
    meta = results["meta"]
    out = ["# Prediction service (`benchmarks/serving_bench.py`)", "",
           f"Commit {meta['commit']}, {meta['date']}; model `{meta['model']}`; threads for "
           f"unbatched calls {meta['threads']}; {meta['machine'].get('cores')} cores; load average before "
           f"{meta['load_before']}{results_report.probes_text(meta)}. One-example predictions; "
           f"clients and server on the same machine; {_clients_text(meta)}", "", "## Goals", "",
           "| goal | measured | met |", "|---|---:|:-:|"]
    out += [f"| {g['goal']} | {g['value']} | {'yes' if g['met'] else 'no'} |"
            for g in results["goals"]]
    out += ["", "## Latency and throughput", "",
            "| protocol | batching | canary | clients | requests | failed | p50 ms | p99 ms "
            "| slowest ms | requests/s | server CPU ms/request | client CPU ms/request |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results["levels"]:
        out.append(f"| {r['protocol']} | {'on' if r['batching'] else 'off'} | "
                   f"{r['canary_percent']} % | {r['clients']} | {r['requests']} | {r['failed']} "
                   f"| {r['p50_ms']} | {r['p99_ms']} | {r.get('max_ms', '-')} | {r['rps']} | "
                   f"{r.get('server_cpu_ms', '-')} | {r.get('client_cpu_ms', '-')} |")
    floor = results.get("floor")
    if floor:
        out += ["", "## Floor: the same clients against servers that do no work", "",
                "`benchmarks/empty_servers.py`: tornado and grpc.aio, the servers `mlops serve` "
                "uses, answering at once. No prediction service can be faster than this with "
                "these clients on this machine.", "",
                "| protocol | clients | p50 ms | p99 ms | requests/s | server CPU ms/request "
                "| client CPU ms/request |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        out += [f"| {r['protocol']} | {r['clients']} | {r['p50_ms']} | {r['p99_ms']} | "
                f"{r['rps']} | {r.get('server_cpu_ms', '-')} | {r.get('client_cpu_ms', '-')} |"
                for r in floor]
    release = results.get("release")
    if release:
        out += ["", "## Release under load", "",
                f"{release['clients']} clients ({', '.join(release['protocols'])}), "
                f"{release['requests']} requests while: {', then '.join(release['steps'])}. "
                f"Failed requests: {release['failed']}; p99 {release['p99_ms']} ms."]
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.load_generator == "h2load" and not h2load_driver.find():
        print(f"error: h2load not found: {h2load_driver.INSTALL_HINT}", file=sys.stderr)
        return 2
    model = (args.model or newest_model()).resolve()
    measured_commit = results_report.commit(ROOT)
    out = Path(args.out) if args.out else results_report.default_folder(ROOT, measured_commit)
    load = os.getloadavg()
    meta = {"commit": measured_commit, "date": f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M}",
            "model": model.name, "threads": args.threads, "requests": args.requests,
            "rest_client": args.rest_client, "load_generator": args.load_generator,
            "load_before": f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}",
            "machine": results_report.machine(), "speed_probe_at_start": speed_probe.probe()}
    levels, release = [], None
    for batching in (True, False):
        with tempfile.TemporaryDirectory(prefix="serving-bench-") as tmp:
            print(f"batching {'on' if batching else 'off'}:", flush=True)
            h2load = H2loadClients(Path(tmp) / "h2load") if args.load_generator == "h2load" \
                else None
            server = Server(model, Path(tmp), args.threads, batching)
            try:
                levels += measure_levels(server, args, batching, h2load)
                if batching and args.release_requests:
                    release = release_under_load(server, args)
                    print(f"  release under load: {release['failed']} failed of "
                          f"{release['requests']}", flush=True)
            finally:
                server.stop()
    floor = []
    if args.floor:
        with tempfile.TemporaryDirectory(prefix="serving-bench-") as tmp:
            h2load = H2loadClients(Path(tmp)) if args.load_generator == "h2load" else None
            floor = measure_floor(args, h2load)
    meta["speed_probe_at_end"] = speed_probe.probe()
    results = {"meta": meta, "levels": levels, "release": release, "floor": floor,
               "goals": goals(levels, release)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "serving.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "serving.md").write_text(render(results))
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": levels, **results}, indent=2) + "\n")
    print(f"wrote {out / 'serving.json'} and serving.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
