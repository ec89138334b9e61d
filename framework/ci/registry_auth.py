"""Registry credentials for the build stage's push, without `docker login` on the agent.

The Docker SDK reads auth from $DOCKER_CONFIG/config.json when its client is created, so
the stage writes a private one for the duration of the build:
- REGISTRY_USER / REGISTRY_PASSWORD (Jenkins withCredentials) for the image's registry;
- else, for Artifact Registry / GCR, an access token of the Google default credentials
  (Cloud Build's service account, or GOOGLE_APPLICATION_CREDENTIALS), user oauth2accesstoken;
- else nothing: the agent's own docker config applies.
Secrets never reach the log; the temporary folder is removed afterwards.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import tempfile
from typing import Iterator, Mapping, Optional

GOOGLE_REGISTRIES = ("docker.pkg.dev", "gcr.io")


def registry_host(image: str) -> Optional[str]:
    """'europe-west4-docker.pkg.dev/p/r/img:tag' -> 'europe-west4-docker.pkg.dev'."""
    first = image.split("/", 1)[0]
    if "/" in image and ("." in first or ":" in first or first == "localhost"):
        return first
    return None  # Docker Hub


def _google_token() -> Optional[str]:
    try:
        import google.auth
        import google.auth.transport.requests
    except ImportError:
        return None
    try:
        credentials, _ = google.auth.default(
            scopes=["https://www.googleapis.com/auth/cloud-platform"])
        credentials.refresh(google.auth.transport.requests.Request())
    except Exception:  # noqa: BLE001 - no Google credentials here: leave auth to the agent
        return None
    return credentials.token


def auth_for(image: str, environ: Mapping[str, str]) -> Optional[tuple[str, str, str]]:
    """(registry host, user, secret) for pushing `image`, or None."""
    host = registry_host(image)
    if host is None:
        return None
    user, password = environ.get("REGISTRY_USER"), environ.get("REGISTRY_PASSWORD")
    if user and password:
        return host, user, password
    if host.endswith(GOOGLE_REGISTRIES):
        token = _google_token()
        if token:
            return host, "oauth2accesstoken", token
    return None


@contextlib.contextmanager
def docker_auth(image: str, environ: Mapping[str, str] | None = None) -> Iterator[Optional[str]]:
    """Within the block, DOCKER_CONFIG points at credentials for `image`'s registry."""
    environ = os.environ if environ is None else environ
    found = auth_for(image, environ)
    if found is None:
        yield None
        return
    host, user, secret = found
    previous = os.environ.get("DOCKER_CONFIG")
    with tempfile.TemporaryDirectory(prefix="mlops-docker-") as folder:
        token = base64.b64encode(f"{user}:{secret}".encode()).decode()
        path = os.path.join(folder, "config.json")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as handle:
            json.dump({"auths": {host: {"auth": token}}}, handle)
        os.environ["DOCKER_CONFIG"] = folder
        try:
            yield host
        finally:
            if previous is None:
                os.environ.pop("DOCKER_CONFIG", None)
            else:
                os.environ["DOCKER_CONFIG"] = previous
