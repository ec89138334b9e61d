"""Run one command and measure it: wall time, peak RSS of its whole process tree.

Two memory figures, because they answer different questions:
- `peak_tree_rss_mb`: the largest sum of RSS over the process and all its descendants,
  sampled every `interval` seconds with psutil. This is what the machine had to hold at
  once (Beam multi_processing workers are separate processes). Sampling can miss a spike
  shorter than the interval.
- `peak_single_rss_mb`: ru_maxrss from wait4() on the child: the largest RSS of any one
  process of the tree (kernel-accounted, never misses a spike, but does not add processes up).
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field


@dataclass
class Measured:
    command: list[str]
    returncode: int
    seconds: float
    peak_tree_rss_mb: float
    peak_single_rss_mb: float
    cpu_seconds: float
    log: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def peak_rss_mb(self) -> float:
        return max(self.peak_tree_rss_mb, self.peak_single_rss_mb)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["peak_rss_mb"] = self.peak_rss_mb
        return out


def _tree_rss(root) -> int:
    import psutil

    total = 0
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass  # it ended between listing and reading
    return total


def tree_cpu_seconds(root) -> float | None:
    """User + system CPU seconds of a process and its descendants (live and reaped); None
    once the process is gone (its output can be read after it exited)."""
    import psutil

    try:
        times = [root.cpu_times()]
        children = root.children(recursive=True)
    except psutil.Error:
        return None
    for proc in children:
        try:
            times.append(proc.cpu_times())
        except psutil.Error:
            pass
    return sum(t.user + t.system + t.children_user + t.children_system for t in times)


def _copy_lines(stream, log, started: float, root=None, mark=None, marks=None,
                peak=None) -> None:
    """Copy the child's output to the log, each line prefixed with its elapsed seconds.

    The prefix times programs that log without timestamps (TFX under plain `logging`).
    Lines matching `mark` are also kept in `marks` as (seconds, tree CPU seconds, line,
    peak tree RSS in MB since the previous mark): CPU per component, a figure that moves much
    less than wall time on a loaded machine, and which component holds the memory.
    """
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", errors="replace").rstrip("\n")
        now = time.monotonic() - started
        if mark is not None and root is not None and mark.search(line):
            window = max(peak[1], _tree_rss(root)) if peak else 0
            if peak:
                peak[1] = 0
            cpu = tree_cpu_seconds(root)
            marks.append((round(now, 2), None if cpu is None else round(cpu, 2), line,
                          round(window / 2**20, 1)))
        if log is not None:
            log.write(f"[{now:9.2f}] {line}\n")
    stream.close()


def _sample(root, stop: threading.Event, interval: float, deadline: float | None,
            peak: list[int]) -> None:
    """Keep the largest tree RSS in peak[0] (and since the last mark in peak[1]); kill the
    process group past the deadline."""
    while not stop.is_set():
        rss = _tree_rss(root)
        peak[0], peak[1] = max(peak[0], rss), max(peak[1], rss)
        if deadline is not None and time.monotonic() > deadline:
            try:
                os.killpg(root.pid, 9)
            except OSError:
                pass
            return
        stop.wait(interval)


def measure(command: list[str], *, env: dict | None = None, cwd: str | None = None,
            log_path: str | None = None, interval: float = 0.2,
            timeout: float | None = None, mark: str | None = None) -> Measured:
    """Run `command` to completion (stdout and stderr to `log_path`) and measure it.

    The wall time ends when wait4() returns, so it is exact whatever the sampling interval.
    """
    import psutil

    log = open(log_path, "w", encoding="utf-8", buffering=1) if log_path else None
    threads = []
    stop = threading.Event()
    peak = [0, 0]
    marks: list = []
    try:
        started = time.monotonic()
        proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        deadline = started + timeout if timeout else None
        root = psutil.Process(proc.pid)
        pattern = re.compile(mark) if mark else None
        threads = [
            threading.Thread(target=_copy_lines, daemon=True,
                             args=(proc.stdout, log, started, root, pattern, marks, peak)),
            threading.Thread(target=_sample, args=(root, stop, interval, deadline, peak),
                             daemon=True),
        ]
        for thread in threads:
            thread.start()
        # wait4 on this pid only: its rusage covers it and the descendants it reaped.
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)  # grandchildren may hold the pipe open a little longer
        if log is not None:
            log.close()
    timed_out = timeout is not None and seconds >= timeout
    extra = {"timed_out": True} if timed_out else {}
    cpu_seconds = round(usage.ru_utime + usage.ru_stime, 2)
    if marks:
        # A line read after the process ended is charged the process's final CPU.
        extra["marks"] = [(at, cpu_seconds if cpu is None else cpu, line, mb)
                          for at, cpu, line, mb in marks]
    return Measured(
        command=list(command),
        returncode=proc.returncode,
        seconds=round(seconds, 3),
        peak_tree_rss_mb=round(peak[0] / 2**20, 1),
        peak_single_rss_mb=round(usage.ru_maxrss / 1024, 1),  # Linux: kilobytes
        cpu_seconds=cpu_seconds,
        log=log_path or "",
        extra=extra,
    )


_STAMP = re.compile(r"^\[\s*(\d+\.\d+)\] (.*)$")


def stamped_lines(text: str):
    """(seconds, line) for each line of a log written by `measure`."""
    for line in text.splitlines():
        match = _STAMP.match(line)
        if match:
            yield float(match.group(1)), match.group(2)


def tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError:
        return ""
