"""A throwaway MariaDB server for the tests: the ML-Metadata store a team shares (Cloud SQL).

Debian's `mariadb-server` package, started unprivileged in a temporary folder on a free port
of 127.0.0.1, with its own socket; no system service. `.ci/run` installs the package.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

USER, PASSWORD = "mlmd", "mlmd-test-pw-7c1d"


@dataclass
class MariaDb:
    folder: Path
    port: int
    process: subprocess.Popen
    host: str = "127.0.0.1"
    databases: int = 0  # made so far by new_database

    @property
    def socket(self) -> str:
        return str(self.folder / "mysqld.sock")

    def sql(self, statement: str) -> str:
        """Run SQL as root over the socket; the output, tab-separated."""
        proc = subprocess.run(
            ["mariadb", "--no-defaults", "-S", self.socket, "-uroot", "-N", "-B", "-e",
             statement], capture_output=True, text=True, timeout=60)
        if proc.returncode:
            raise RuntimeError(f"mariadb: {proc.stderr.strip()}")
        return proc.stdout

    def create_database(self, name: str) -> None:
        self.sql(f"CREATE DATABASE `{name}`; GRANT ALL ON `{name}`.* TO '{USER}'@'127.0.0.1';")

    def running(self) -> "MariaDb":
        """This server, started again if a test stopped it."""
        if self.process.poll() is not None:
            self.start_again()
        return self

    def new_database(self) -> dict[str, str]:
        """MLOPS_* settings for a new, empty database (on a running server)."""
        self.running()
        self.databases += 1
        name = f"mlmd_{self.databases}"
        self.create_database(name)
        return self.env(name)

    def env(self, database: str, **extra: str) -> dict[str, str]:
        """MLOPS_* settings that point ML-Metadata at `database` on this server."""
        return {"MLOPS_METADATA__MYSQL__HOST": self.host,
                "MLOPS_METADATA__MYSQL__PORT": str(self.port),
                "MLOPS_METADATA__MYSQL__DATABASE": database,
                "MLOPS_METADATA__MYSQL__USER": USER,
                "MLOPS_METADATA__MYSQL__PASSWORD_ENV": "MLMD_TEST_PASSWORD",
                "MLMD_TEST_PASSWORD": PASSWORD, **extra}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def start_again(self) -> None:
        """Start the server on the same folder and port (after `stop`)."""
        self.process = _launch(self.folder, self.port)
        _wait_until_up(self)


def available() -> str | None:
    """None when MariaDB can be started here, else what is missing."""
    for tool in ("mariadbd", "mariadb-install-db", "mariadb"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            return f"{tool} is not installed (apt-get install mariadb-server)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _root_flag() -> list[str]:
    return ["--user=root"] if os.geteuid() == 0 else []


def _binary(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def _launch(folder: Path, port: int) -> subprocess.Popen:
    log = open(folder / "server.log", "a")
    return subprocess.Popen(
        [_binary("mariadbd"), "--no-defaults", f"--datadir={folder / 'data'}",
         f"--socket={folder / 'mysqld.sock'}", f"--port={port}", "--bind-address=127.0.0.1",
         f"--pid-file={folder / 'mysqld.pid'}", "--skip-log-bin", *_root_flag()],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_until_up(server: MariaDb, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError("mariadbd exited: "
                               + (server.folder / "server.log").read_text()[-1500:])
        try:
            server.sql("SELECT 1")
            return
        except RuntimeError:
            time.sleep(0.3)
    raise RuntimeError(f"mariadbd did not answer within {seconds:.0f} s")


def start(folder: Path) -> MariaDb:
    """A new server with a user that may create databases named mlmd*."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([_binary("mariadb-install-db"), "--no-defaults", f"--datadir={folder / 'data'}",
                    "--auth-root-authentication-method=socket", *_root_flag()],
                   check=True, capture_output=True, timeout=120)
    port = _free_port()
    server = MariaDb(folder, port, _launch(folder, port))
    _wait_until_up(server)
    server.sql(f"CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}';")
    return server
