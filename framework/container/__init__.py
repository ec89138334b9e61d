"""Container images and the Docker API: the client, the build context, build, tag and push.

Everything here talks to a Docker Engine API (Docker, or podman's `system service`) through
the `docker` SDK, imported only inside functions so `mlops --help` stays fast.
"""
