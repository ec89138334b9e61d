"""The Docker API client: from settings.image.docker_host, else $DOCKER_HOST, else the default."""

from __future__ import annotations

import os

from framework.core.errors import UserError

SETUP_HINT = ("start one (on Debian: sudo local/setup-podman.sh) and set DOCKER_HOST, "
              "e.g. DOCKER_HOST=unix:///tmp/podman.sock")


class DockerUnavailableError(UserError):
    """No Docker Engine API answers where the settings or DOCKER_HOST point."""


def docker_host(settings=None) -> str | None:
    """The Docker API address to use; None means the SDK's default (/var/run/docker.sock)."""
    configured = getattr(getattr(settings, "image", None), "docker_host", None)
    return configured or os.environ.get("DOCKER_HOST") or None


def docker_client(settings=None, *, timeout: int = 600):
    """A connected `docker.DockerClient`; a one-line error when no engine answers."""
    import docker

    host = docker_host(settings)
    where = host or "the default socket (unix:///var/run/docker.sock)"
    try:
        if host:
            client = docker.DockerClient(base_url=host, timeout=timeout)
        else:
            client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as exc:  # DockerException, connection errors: all mean "no engine"
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise DockerUnavailableError(f"no Docker API at {where} ({reason}); {SETUP_HINT}") from None
    return client


def build_ca_bundle(settings=None, explicit: str | None = None) -> str | None:
    """The extra CA bundle for image builds: given, else settings.image.ca_bundle, else $PIP_CERT.

    $PIP_CERT last: a host whose pip needs that bundle to reach the index (a TLS-inspecting
    proxy) needs it inside the build too.
    """
    configured = getattr(getattr(settings, "image", None), "ca_bundle", None)
    return explicit or configured or os.environ.get("PIP_CERT") or None


def is_rootless(client) -> bool:
    """True when the engine runs rootless (root in a container is the calling user)."""
    try:
        options = client.info().get("SecurityOptions") or []
    except Exception:
        return False
    return any("rootless" in str(option) for option in options)


def host_user(client) -> str | None:
    """The user a container runs as so that what it writes on the host belongs to the caller
    (None as root, and on rootless engines, whose container root already is the caller)."""
    if os.getuid() == 0 or is_rootless(client):
        return None
    return f"{os.getuid()}:{os.getgid()}"
