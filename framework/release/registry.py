"""The model registry: versions, stages, a last-good pointer and a history, kept as data.

State lives in one JSON file (by default `<serving_dir>.release.json`, beside the serving
folder). Every change happens inside `Registry.transaction()`: an exclusive file lock, a fresh
read, the change, then an atomic write (temporary file + rename), so concurrent commands and
the server's automatic rollback never lose each other's updates and readers never see half a
file. Traffic is derived from the state, KServe-style: the canary gets `canary_percent`, the
production version gets the rest; a rollback sets the canary's share to 0.

Versions are discovered from the serving folder: every `<serving_dir>/<digits>/` holding a
`saved_model.pb` is a version; new pushes appear as candidates.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import getpass
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Optional

from framework.errors import UserError

STAGES = ("candidate", "canary", "production", "archived")
LOCK_TIMEOUT_S = 15.0


class ReleaseError(UserError):
    """A release command that cannot be carried out in the registry's current state."""


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ReleaseState:
    model_name: str = ""
    versions: dict[str, dict] = field(default_factory=dict)
    production: Optional[str] = None
    canary: Optional[str] = None
    canary_percent: int = 0
    # Earlier production versions, oldest first: where a rollback without a canary goes.
    previous: list[str] = field(default_factory=list)
    # The last version a rollback took out (KServe keeps it as the latest revision at 0 %).
    rolled_back: Optional[str] = None
    history: list[dict] = field(default_factory=list)
    # Bumped on every write; the server reloads when it changes.
    revision: int = 0

    @property
    def last_good(self) -> Optional[str]:
        """The version a rollback returns to: production while a canary is out, else the
        production before the current one."""
        if self.canary:
            return self.production
        return self.previous[-1] if self.previous else None

    def traffic(self) -> dict[str, int]:
        """Percent of requests per version, derived from the state."""
        if self.production is None:
            return {}
        if self.canary and self.canary_percent > 0:
            return {self.production: 100 - self.canary_percent, self.canary: self.canary_percent}
        return {self.production: 100}

    def stage(self, version: str) -> str:
        return self.versions.get(version, {}).get("stage", "unknown")

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["last_good"] = self.last_good
        data["traffic"] = self.traffic()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "ReleaseState":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def sort_versions(versions) -> list[str]:
    return sorted(versions, key=lambda v: (len(v), v))


def discover_versions(serving_dir: str) -> dict[str, str]:
    """{version: path} of the complete models under serving_dir (temporary folders skipped)."""
    found: dict[str, str] = {}
    if "://" in serving_dir:
        import tensorflow as tf  # heavy: only for gs:// and other remote serving folders

        if not tf.io.gfile.exists(serving_dir):
            return found
        for name in tf.io.gfile.listdir(serving_dir):
            name = name.rstrip("/")
            path = f"{serving_dir.rstrip('/')}/{name}"
            if name.isdigit() and tf.io.gfile.exists(f"{path}/saved_model.pb"):
                found[name] = path
        return found
    root = Path(serving_dir)
    if not root.is_dir():
        return found
    for child in root.iterdir():
        # saved_model.pb is written last by the atomic pusher: its presence means complete.
        if child.name.isdigit() and (child / "saved_model.pb").is_file():
            found[child.name] = str(child)
    return found


class Registry:
    def __init__(self, state_path: str | os.PathLike, serving_dir: str, model_name: str):
        self.state_path = Path(state_path)
        self.serving_dir = serving_dir
        self.model_name = model_name

    @classmethod
    def from_settings(cls, settings) -> "Registry":
        return cls(state_path_for(settings), settings.pipeline.serving_dir,
                   settings.release.model_name or settings.pipeline.name)

    @property
    def lock_path(self) -> Path:
        return self.state_path.with_name(self.state_path.name + ".lock")

    # -- reading and writing -------------------------------------------------------------

    def read(self) -> ReleaseState:
        """The state as last written (no lock needed: writes are atomic renames)."""
        try:
            text = self.state_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ReleaseState(model_name=self.model_name)
        try:
            return ReleaseState.from_dict(json.loads(text))
        except (ValueError, TypeError) as exc:
            raise ReleaseError(f"{self.state_path}: registry state is not valid JSON ({exc})") \
                from None

    def _write(self, state: ReleaseState) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".release-", suffix=".json", dir=self.state_path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(state.to_dict(), handle, indent=2, sort_keys=False)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.state_path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+") as lock:
            deadline = time.monotonic() + LOCK_TIMEOUT_S
            while True:
                try:
                    fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise ReleaseError(
                            f"the registry {self.state_path} stayed locked for "
                            f"{LOCK_TIMEOUT_S:.0f} s by another command; try again"
                        ) from None
                    time.sleep(0.02)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[ReleaseState]:
        """Lock, read, sync with the serving folder, let the caller change, write."""
        with self._locked():
            state = self.read()
            before = json.dumps(state.to_dict(), sort_keys=True)
            state.model_name = state.model_name or self.model_name
            self._sync(state)
            yield state
            if json.dumps(state.to_dict(), sort_keys=True) != before:
                state.revision += 1
                self._write(state)

    def sync(self) -> ReleaseState:
        """Record versions pushed since the last command; returns the state."""
        with self.transaction() as state:
            return state

    def _sync(self, state: ReleaseState) -> None:
        found = discover_versions(self.serving_dir)
        for version in sort_versions(found):
            if version not in state.versions:
                state.versions[version] = {"stage": "candidate", "path": found[version],
                                           "discovered": now_iso()}
                _record(state, "discovered", version, by="serving folder", reason="new push")
        for version, info in state.versions.items():
            info["missing"] = version not in found
            if version in found:  # follows a serving folder that was moved
                info["path"] = found[version]

    # -- the release operations ----------------------------------------------------------

    def canary(self, version: str, percent: int, *, by: str, reason: str = "") -> ReleaseState:
        if not 1 <= percent <= 99:
            raise ReleaseError(f"--percent must be between 1 and 99, got {percent} "
                               "(100 is `mlops release promote`, 0 is `mlops release rollback`)")
        with self.transaction() as state:
            _require_version(state, version)
            if state.production is None:
                raise ReleaseError(
                    f"no production version yet: promote one first "
                    f"(mlops release promote {version})")
            if version == state.production:
                raise ReleaseError(f"version {version} is already in production")
            if state.versions[version].get("missing"):
                raise ReleaseError(f"version {version} is no longer in {self.serving_dir}")
            if state.canary and state.canary != version:
                raise ReleaseError(
                    f"version {state.canary} is already the canary: promote it or roll it back "
                    "first (mlops release promote / mlops release rollback)")
            action = "canary" if state.canary != version else "canary-percent"
            state.canary, state.canary_percent, state.rolled_back = version, percent, None
            state.versions[version]["stage"] = "canary"
            _record(state, action, version, by=by, reason=reason)
            return state

    def promote(self, version: Optional[str] = None, *, by: str, reason: str = "",
                force: bool = False) -> ReleaseState:
        with self.transaction() as state:
            if version is None:
                if not state.canary:
                    raise ReleaseError("no canary to promote: send one out first "
                                       "(mlops release canary VERSION --percent N)")
                version = state.canary
            _require_version(state, version)
            if version == state.production:
                raise ReleaseError(f"version {version} is already in production")
            if state.production and version != state.canary and not force:
                raise ReleaseError(
                    f"version {version} has not been out as a canary: run "
                    f"`mlops release canary {version} --percent N` first (or pass --force)")
            if state.canary and state.canary != version:
                # A forced promotion of another version ends the current canary too.
                state.versions[state.canary]["stage"] = "archived"
            old = state.production
            if old:
                state.versions[old]["stage"] = "archived"
                state.previous.append(old)
            state.production, state.canary, state.canary_percent = version, None, 0
            state.rolled_back = None
            state.versions[version]["stage"] = "production"
            _record(state, "promote", version, by=by, reason=reason, replaced=old)
            return state

    def rollback(self, *, by: str, reason: str = "",
                 only_canary: Optional[str] = None) -> Optional[ReleaseState]:
        """Take the canary out (its share goes to 0), or, with no canary, return production
        to the last good version. `only_canary` (used by the server's automatic policy) makes
        it a no-op unless that version is still the canary; returns None then."""
        with self.transaction() as state:
            if only_canary is not None and state.canary != only_canary:
                return None
            if state.canary:
                bad = state.canary
                state.canary, state.canary_percent = None, 0
            elif state.previous:
                bad = state.production
                state.production = state.previous.pop()
                state.versions[state.production]["stage"] = "production"
            else:
                raise ReleaseError("nothing to roll back: no canary is out and there is no "
                                   "earlier production version")
            state.versions[bad]["stage"] = "archived"
            state.versions[bad]["rolled_back"] = reason or "rolled back"
            state.rolled_back = bad
            _record(state, "rollback", bad, by=by, reason=reason, to=state.production)
            return state


def _require_version(state: ReleaseState, version: str) -> None:
    if version not in state.versions:
        known = ", ".join(sort_versions(state.versions)) or "none (run the pipeline first)"
        raise ReleaseError(f"unknown version '{version}' (known versions: {known})")


def _record(state: ReleaseState, action: str, version: str, *, by: str, reason: str = "",
            **extra) -> None:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    entry = {"at": now_iso(), "action": action, "version": version,
             "traffic": state.traffic(), "by": by, "user": user}
    if reason:
        entry["reason"] = reason
    entry.update({k: v for k, v in extra.items() if v is not None})
    state.history.append(entry)


def state_path_for(settings) -> str:
    """Where the registry of these settings lives; must be a local path (it is locked)."""
    path = settings.release.state_path
    if not path:
        serving = settings.pipeline.serving_dir
        if "://" in serving:
            raise ReleaseError(
                f"the serving folder {serving} is remote: set release.state_path to a local "
                "file (e.g. in the CI workspace) for the registry state")
        path = serving.rstrip("/") + ".release.json"
    if "://" in path:
        raise ReleaseError(f"release.state_path must be a local file, got {path}")
    return path


def stats_path_for(state_path: str | os.PathLike) -> Path:
    """The server's per-version statistics file, beside the registry state."""
    p = Path(state_path)
    return p.with_name(p.name.replace(".release.json", "") + ".serving-stats.json")
