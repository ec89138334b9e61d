"""Prediction latency (p50/p99) and throughput of `mlops serve` at 1, 8 and 32 clients.

Starts `mlops serve` on 127.0.0.1 (a free port) over a temporary registry whose production
version is the given SavedModel, sends a bounded number of one-example :predict requests per
concurrency level from keep-alive HTTP clients, prints a Markdown table, and stops the server.

    python benchmarks/serving_bench.py                     # newest model in the local serving dir
    python benchmarks/serving_bench.py --model .mlops/local/serving/taxi/1795898132 --requests 2000

Only loopback is used; every loop is bounded by a request count and a time limit.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipelines.taxi.features import EXAMPLE_INSTANCE as INSTANCE  # noqa: E402

TIME_LIMIT_S = 120  # per concurrency level


def newest_model() -> Path:
    from framework.settings import load_settings

    serving = Path(load_settings("taxi", "local").pipeline.serving_dir)
    versions = sorted((p for p in serving.glob("*") if p.name.isdigit()),
                      key=lambda p: int(p.name))
    if not versions:
        sys.exit(f"no model under {serving}: run `mlops run` first or pass --model")
    return versions[-1]


def start_server(model: Path, workdir: Path, threads: int):
    from framework.release.registry import Registry

    serving = workdir / "serving"
    serving.mkdir()
    version = model.name if model.name.isdigit() else "1"
    (serving / version).symlink_to(model.resolve(), target_is_directory=True)
    state = workdir / "bench.release.json"
    Registry(state, str(serving), "taxi").promote(version, by="serving_bench")
    env = dict(os.environ, MLOPS_PIPELINE__SERVING_DIR=str(serving),
               MLOPS_RELEASE__STATE_PATH=str(state), MLOPS_RELEASE__THREADS=str(threads))
    proc = subprocess.Popen([sys.executable, "-m", "framework", "serve", "--host", "127.0.0.1",
                             "--port", "0"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if not match:
        proc.kill()
        sys.exit(f"mlops serve did not start: {line!r}")
    return proc, int(match.group(1))


def run_level(port: int, clients: int, total: int) -> dict:
    body = json.dumps({"instances": [INSTANCE]})
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    remaining = [total]
    deadline = time.monotonic() + TIME_LIMIT_S

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        while time.monotonic() < deadline:
            with lock:
                if remaining[0] <= 0:
                    break
                remaining[0] -= 1
            started = time.perf_counter()
            conn.request("POST", "/v1/models/taxi:predict", body,
                         {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            mine.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                with lock:
                    failures[0] += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    latencies.sort()

    def pct(q):
        return latencies[max(0, int(len(latencies) * q / 100 + 0.999999) - 1)]

    return {"clients": clients, "requests": len(latencies), "failures": failures[0],
            "p50_ms": pct(50), "p99_ms": pct(99), "rps": len(latencies) / wall}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="SavedModel folder")
    parser.add_argument("--requests", type=int, default=1000, help="requests per level")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--threads", type=int, default=8, help="server worker threads")
    args = parser.parse_args()
    model = args.model or newest_model()
    with tempfile.TemporaryDirectory(prefix="serving-bench-") as tmp:
        proc, port = start_server(model, Path(tmp), args.threads)
        try:
            run_level(port, 4, 100)  # warm-up, not reported
            rows = [run_level(port, c, args.requests) for c in args.clients]
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    load = os.getloadavg()
    print(f"model {model}; server threads {args.threads}; {os.cpu_count()} cores; "
          f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print("| clients | requests | failed | p50 ms | p99 ms | requests/s |")
    print("|--------:|---------:|-------:|-------:|-------:|-----------:|")
    for r in rows:
        print(f"| {r['clients']} | {r['requests']} | {r['failures']} | {r['p50_ms']:.1f} | "
              f"{r['p99_ms']:.1f} | {r['rps']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
