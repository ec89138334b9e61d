"""Create the CI virtualenv: `python3 -m framework.ci.bootstrap .venv` (stdlib only).

The first CI step, run before anything is installed. Installs the project editable with
its test extras, pinned by constraints.txt. A stamp of pyproject.toml + constraints.txt
lets a reused Jenkins workspace skip the install when neither changed.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import venv
from pathlib import Path

STAMP = ".mlops-bootstrap"


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for name in ("pyproject.toml", "constraints.txt"):
        path = root / name
        h.update(path.read_bytes() if path.exists() else b"")
    return h.hexdigest()


def bootstrap(target: Path, root: Path) -> bool:
    """Make `target` a venv with the project installed; False when it already was."""
    stamp = target / STAMP
    digest = _digest(root)
    if (target / "bin" / "mlops").exists() and stamp.exists() and stamp.read_text() == digest:
        print(f"{target}: up to date")
        return False
    venv.EnvBuilder(with_pip=True, clear=False).create(target)
    pip = [str(target / "bin" / "python"), "-m", "pip"]
    pins = ["-c", "constraints.txt"] if (root / "constraints.txt").exists() else []
    cmd = [*pip, "install", "--ignore-requires-python", *pins, "-e", ".[test]"]
    print(" ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=root, check=True)
    stamp.write_text(digest)
    return True


def main(argv: list[str]) -> int:
    target = Path(argv[0] if argv else ".venv").resolve()
    try:
        bootstrap(target, Path.cwd())
    except subprocess.CalledProcessError as exc:
        print(f"error: installing the project failed (exit {exc.returncode})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
