"""The Quick start as a new user meets it: both lines, in a fresh clone, timed from outside.

    python benchmarks/quickstart_bench.py [--tox PATH] [--out DIR]

In a fresh `git clone` of this checkout's HEAD:
1. `tox -e pipeline` with no `.tox` folder (cold): creates the one virtualenv, runs taxi;
2. `tox -e test --notest` (what the second line does before the first test starts);
3. `tox -e pipeline` again (warm: the virtualenv is reused and the run is cached).

pip's download cache is whatever this machine's is (say which with --note); a machine that
has never downloaded TensorFlow adds the download time to the cold line.
Writes benchmarks/results/<date>-<commit>/quickstart.json and quickstart.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import proc_measure  # noqa: E402
import results_report  # noqa: E402

STEPS = (("cold", "first line, no virtualenv yet", ["-e", "pipeline"]),
         ("second_line_setup", "second line, up to the first test", ["-e", "test", "--notest"]),
         ("warm", "first line again", ["-e", "pipeline"]))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tox", default=shutil.which("tox") or "tox", help="the tox to run")
    parser.add_argument("--out", default=None,
                        help="results folder (default: benchmarks/results/<date>-<commit>)")
    parser.add_argument("--note", default="", help="e.g. 'pip download cache warm'")
    return parser.parse_args(argv)


def _clean_env() -> dict:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("MLOPS_", "TOX_", "VIRTUAL_ENV"))}


def run(args, measured_commit: str) -> dict:
    work = Path(tempfile.mkdtemp(prefix="mlops-quickstart-"))
    clone = work / "portable-mlops"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    results = {"meta": {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                        "commit": measured_commit,
                        "note": args.note, "machine": results_report.machine(),
                        "versions": results_report.versions()},
               "steps": []}
    try:
        for key, what, tox_args in STEPS:
            print(f"{key}: tox {' '.join(tox_args)}", flush=True)
            m = proc_measure.measure([args.tox, *tox_args], env=_clean_env(), cwd=str(clone),
                                     log_path=str(work / f"{key}.log"), interval=0.5)
            results["steps"].append({"step": key, "what": what,
                                     "command": f"tox {' '.join(tox_args)}",
                                     "seconds": round(m.seconds, 1),
                                     "peak_rss_mb": m.peak_rss_mb, "ok": m.returncode == 0})
            print(f"  {m.seconds:.1f} s, exit {m.returncode}", flush=True)
            if m.returncode:
                tail = (work / f"{key}.log").read_text(errors="replace")[-2000:]
                results["error"] = f"{key} exited {m.returncode}: {tail}"
                break
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def render(results: dict) -> str:
    meta = results["meta"]
    out = [f"# Quick start, timed (commit {meta['commit']}, {meta['date']})", "",
           f"A fresh clone; {meta['note'] or 'pip cache as found'}. "
           f"{meta['machine']['cores']} cores.", "",
           "| step | command | seconds | result |", "|---|---|---|---|"]
    out += [f"| {s['what']} | `{s['command']}` | {s['seconds']:.1f} | "
            f"{'ok' if s['ok'] else 'FAILED'} |" for s in results["steps"]]
    if results.get("error"):
        out += ["", "Error: " + results["error"].splitlines()[0]]
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    measured_commit = results_report.commit(ROOT)  # once: the tree may move on meanwhile
    out = Path(args.out) if args.out else results_report.default_folder(ROOT, measured_commit)
    out.mkdir(parents=True, exist_ok=True)
    results = run(args, measured_commit)
    (out / "quickstart.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "quickstart.md").write_text(render(results))
    print(f"wrote {out / 'quickstart.md'}")
    return 1 if results.get("error") else 0


if __name__ == "__main__":
    sys.exit(main())
