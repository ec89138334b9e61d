"""The build context: the project files docker/Dockerfile.dockerignore lets through, as a tar.

An extra CA bundle is added to the tar as docker/extra-ca/extra-ca.pem for that one build;
nothing is ever written into the checkout.
"""

from __future__ import annotations

from pathlib import Path

DOCKERFILE = "docker/Dockerfile"
IGNORE_FILE = "docker/Dockerfile.dockerignore"
CA_NAME = "docker/extra-ca/extra-ca.pem"


def ignore_patterns(root: Path) -> list[str]:
    path = root / IGNORE_FILE
    if not path.exists():
        return [".git", ".mlops", ".tox", "**/__pycache__"]
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def context_files(root: Path) -> list[str]:
    """Paths (relative to root) that go into the build context."""
    from docker.utils.build import exclude_paths

    return sorted(exclude_paths(str(root), ignore_patterns(root), dockerfile=DOCKERFILE))


def build_context(root: Path, ca_bundle: str | None = None):
    """A seekable file object holding the context tar (the caller closes it)."""
    from docker.utils.build import create_archive

    from framework.core.errors import UserError

    root = Path(root)
    if not (root / DOCKERFILE).is_file():
        raise UserError(f"{root / DOCKERFILE}: no Dockerfile (is {root} the project root?)")
    extra = []
    if ca_bundle:
        try:
            pem = Path(ca_bundle).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not text"
            raise UserError(f"CA bundle {ca_bundle}: cannot read it ({reason})") from None
        if "BEGIN CERTIFICATE" not in pem:
            raise UserError(f"CA bundle {ca_bundle}: no PEM certificate in it")
        extra.append((CA_NAME, pem))
    files = [f for f in context_files(root) if f != CA_NAME]
    return create_archive(str(root), files=files, extra_files=extra)
