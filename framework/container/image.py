"""Build, tag and push the pipeline image through the Docker API, with progress lines."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from framework.core.errors import UserError

TAG_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# Podman prints "STEP 3/12: ..." (with "[2/2] " in multi-stage builds), Docker "Step 3/12 : ...".
STEP_LINE = re.compile(r"^(\[\d+/\d+\] )?(STEP|Step) \d+/\d+ ?:")
CACHE_LINE = re.compile(r"Using cache")
FROM_STEP = re.compile(r":\s*FROM\s", re.IGNORECASE)


class ImageBuildError(UserError):
    """The image build failed: the message holds the failing step and its last output."""


class ImagePushError(UserError):
    """The registry refused the image or could not be reached."""


def valid_tag(name: str) -> str:
    """A branch or tag name made valid as an image tag ('feature/x' -> 'feature-x')."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "untagged"
    return cleaned[:128]


def split_ref(ref: str) -> tuple[str, str]:
    """('repo', 'tag') of 'repo:tag'; a port in the registry host is not a tag."""
    name, _, tag = ref.rpartition(":")
    if not name or "/" in tag:
        return ref, "latest"
    return name, tag


@dataclass
class BuildResult:
    image_id: str
    refs: list[str]
    seconds: float
    steps: int = 0
    cached_steps: int = 0
    log: list[str] = field(default_factory=list)

    @property
    def fully_cached(self) -> bool:
        """Every RUN/COPY step of the build came from the layer cache."""
        return self.steps > 0 and self.cached_steps >= self.steps


def _lines(chunk: dict) -> list[str]:
    text = chunk.get("stream") or ""
    if not text and chunk.get("status"):
        text = " ".join(str(chunk[k]) for k in ("status", "id", "progress") if chunk.get(k))
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def build_image(
    client,
    root: Path,
    refs: list[str],
    *,
    base_image: Optional[str] = None,
    ca_bundle: Optional[str] = None,
    labels: Optional[dict[str, str]] = None,
    nocache: bool = False,
    on_line: Optional[Callable[[str], None]] = None,
) -> BuildResult:
    """Build docker/Dockerfile from the project at `root` and tag it with every ref in `refs`.

    The build runs with the host's network (podman's `--network host`), so that pip reaches
    the package index the way the host does. `on_line` receives every line of build output.
    """
    from framework.container.context import build_context

    if not refs:
        raise UserError("build_image: no image reference to tag")
    started = time.monotonic()
    log: list[str] = []
    context = build_context(root, ca_bundle)
    try:
        stream = _start_build(client, context, refs[0], base_image=base_image, labels=labels,
                              nocache=nocache)
        image_id, steps, cached = _follow_build(stream, log, refs[0], on_line)
    except ImageBuildError:
        raise
    except Exception as exc:  # the engine broke the stream (e.g. it died mid-build)
        raise ImageBuildError(_build_failure(str(exc), log, refs[0])) from None
    finally:
        context.close()
    image = _tag_built_image(client, refs, log)
    return BuildResult(image_id=image.id or image_id or "", refs=list(refs),
                       seconds=time.monotonic() - started, steps=steps, cached_steps=cached,
                       log=log)


def _start_build(client, context, ref: str, *, base_image: Optional[str],
                 labels: Optional[dict[str, str]], nocache: bool):
    """Send the build context to the engine; the decoded stream of its output chunks."""
    from framework.container.context import DOCKERFILE

    buildargs = {"BASE_IMAGE": base_image} if base_image else {}
    return client.api.build(
        fileobj=context, custom_context=True, dockerfile=DOCKERFILE, tag=ref,
        buildargs=buildargs, network_mode="host", rm=True, forcerm=True, pull=False,
        nocache=nocache, labels=labels or None, decode=True,
    )


def _follow_build(stream, log: list[str], ref: str,
                  on_line: Optional[Callable[[str], None]]) -> tuple[Optional[str], int, int]:
    """(image id, steps, cached steps) of the build output; every line goes to `log`.

    An error chunk raises ImageBuildError with the failing step.
    """
    image_id = None
    steps = cached = 0
    for chunk in stream:
        if "error" in chunk or "errorDetail" in chunk:
            detail = chunk.get("error") or (chunk.get("errorDetail") or {}).get("message", "")
            raise ImageBuildError(_build_failure(detail, log, ref))
        aux = chunk.get("aux") or {}
        image_id = aux.get("ID") or image_id
        for line in _lines(chunk):
            log.append(line)
            if STEP_LINE.match(line) and not FROM_STEP.search(line):
                steps += 1
            elif CACHE_LINE.search(line):
                cached += 1
            if on_line:
                on_line(line)
    return image_id, steps, cached


def _tag_built_image(client, refs: list[str], log: list[str]):
    """The image built as refs[0], tagged with the other refs too."""
    try:
        image = client.images.get(refs[0])
    except Exception:
        failure = _build_failure("the engine reported no image", log, refs[0])
        raise ImageBuildError(failure) from None
    for ref in refs[1:]:
        repository, tag = split_ref(ref)
        image.tag(repository, tag)
    return image


def _build_failure(detail: str, log: list[str], ref: str) -> str:
    step = next((line for line in reversed(log) if STEP_LINE.match(line)), None)
    where = f" at {step[:120]}" if step else ""
    tail = [line for line in log[-3:] if line != step]
    last = detail.strip().splitlines()[-1] if detail.strip() else "unknown error"
    hint = ""
    if "CERTIFICATE_VERIFY_FAILED" in " ".join(log[-40:]) + detail:
        hint = (" (TLS-inspecting proxy? give its CA bundle: MLOPS_IMAGE__CA_BUNDLE="
                "/etc/ssl/certs/ca-certificates.crt or `--ca-bundle`)")
    shown = f"; last output: {' | '.join(t[:200] for t in tail)}" if tail else ""
    return f"building {ref} failed{where}: {last[:300]}{hint}{shown}"


def image_exists(client, ref: str) -> bool:
    import docker

    try:
        client.images.get(ref)
        return True
    except docker.errors.ImageNotFound:
        return False


def paths_missing(client, image: str, paths: list[str]) -> list[str]:
    """The paths among `paths` that do not exist in `image` (checked without running it)."""
    import docker

    if not paths:
        return []
    container = client.containers.create(image, command=["true"])
    try:
        missing = []
        for path in paths:
            try:
                container.get_archive(path)
            except docker.errors.NotFound:
                missing.append(path)
        return missing
    finally:
        container.remove(force=True)


def push_image(client, ref: str, on_line: Optional[Callable[[str], None]] = None) -> None:
    """Push one reference; the registry's refusal becomes one readable error line."""
    repository, tag = split_ref(ref)
    try:
        stream = client.api.push(repository, tag=tag, stream=True, decode=True)
        for chunk in stream:
            if "error" in chunk or "errorDetail" in chunk:
                detail = chunk.get("error") or (chunk.get("errorDetail") or {}).get("message", "")
                raise ImagePushError(f"pushing {ref} failed: {detail.strip()[:300]}")
            status = chunk.get("status")
            if status and on_line and not chunk.get("progressDetail"):
                on_line(f"{status} {chunk.get('id', '')}".strip())
    except ImagePushError:
        raise
    except Exception as exc:
        text = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        raise ImagePushError(f"pushing {ref} failed: {text}") from None


class BuildProgress:
    """Prints the build's steps (and whether each came from the cache); everything if verbose."""

    def __init__(self, emit: Callable[[str], None], verbose: bool = False, prefix: str = "image: "):
        self.emit = emit
        self.verbose = verbose
        self.prefix = prefix

    def __call__(self, line: str) -> None:
        if self.verbose:
            self.emit(f"{self.prefix}{line}")
        elif STEP_LINE.match(line):
            self.emit(f"{self.prefix}{line[:110]}")
        elif CACHE_LINE.search(line):
            self.emit(f"{self.prefix}  (cached)")
