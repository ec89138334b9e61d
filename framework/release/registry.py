"""The model registry: versions, stages, a last-good pointer and a history, kept as data.

State lives in one JSON object (by default `<serving_dir>.release.json`, beside the serving
folder), in a local folder or on gs:// (framework/storage). Every change happens inside
`Registry.transaction()`: an exclusive lease (a file lock locally, a lease object on gs://,
framework/storage/lease.py), a fresh read, the change, then a whole-object write, so
concurrent commands on any host and the server's automatic rollback never lose each other's
updates and readers never see half a state. Traffic is derived from the state,
KServe-style: the canary gets `canary_percent`, the production version gets the rest; a
rollback sets the canary's share to 0.

Versions are discovered from the serving folder: every `<serving_dir>/<digits>/` holding a
`saved_model.pb` is a version; new pushes appear as candidates.
"""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterator, Optional

from framework.core.errors import UserError
from framework.storage import files, lease

STAGES = ("candidate", "canary", "production", "archived")
LOCK_TIMEOUT_S = 15.0
# On gs://: how long a registry lease lasts unless renewed (a dead holder blocks for at most
# this long; a transaction takes well under a second).
LOCK_LEASE_S = 30.0


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
    """{version: path} of the complete models under serving_dir (temporary folders skipped).

    saved_model.pb is written last by the atomic pusher: its presence means complete.
    """
    found: dict[str, str] = {}
    for name in files.list_tree(serving_dir):
        version, _, rest = name.partition("/")
        if version.isdigit() and rest == "saved_model.pb":
            found[version] = files.join(serving_dir, version)
    return found


class Registry:
    def __init__(self, state_path: str | os.PathLike, serving_dir: str, model_name: str):
        self.state_path = os.fspath(state_path)  # a local path or gs://: never a Path
        self.serving_dir = serving_dir
        self.model_name = model_name

    @classmethod
    def from_settings(cls, settings) -> "Registry":
        return cls(state_path_for(settings), settings.pipeline.serving_dir,
                   settings.release.model_name or settings.pipeline.name)

    @property
    def lock_path(self) -> str:
        return self.state_path + ".lock"

    # -- reading and writing -------------------------------------------------------------

    def read(self) -> ReleaseState:
        """The state as last written (no lock needed: writes replace the whole object)."""
        text = files.read_text(self.state_path)
        if text is None:
            return ReleaseState(model_name=self.model_name)
        try:
            return ReleaseState.from_dict(json.loads(text))
        except (ValueError, TypeError) as exc:
            raise ReleaseError(f"{self.state_path}: registry state is not valid JSON ({exc})") \
                from None

    def _write(self, state: ReleaseState) -> None:
        files.write_text(self.state_path, json.dumps(state.to_dict(), indent=2) + "\n")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        deadline = time.monotonic() + LOCK_TIMEOUT_S
        pause = 0.2 if files.is_remote(self.lock_path) else 0.02
        while True:
            with lease.hold(self.lock_path, ttl=LOCK_LEASE_S) as held:
                if held:
                    yield
                    return
            if time.monotonic() > deadline:
                holder = lease.describe(lease.read_holder(self.lock_path))
                raise ReleaseError(
                    f"the registry {self.state_path} stayed locked for {LOCK_TIMEOUT_S:.0f} s "
                    f"by another command ({holder}); try again")
            time.sleep(pause)

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
    """Where the registry of these settings lives: a local file or a gs:// object."""
    path = settings.release.state_path
    if not path:
        path = settings.pipeline.serving_dir.rstrip("/") + ".release.json"
    return path


def beside_state(state_path: str | os.PathLike, suffix: str) -> str:
    """A file next to the registry state, in the same store: `<name>.release.json` ->
    `<name><suffix>`."""
    state_path = os.fspath(state_path)
    return state_path.removesuffix(".release.json") + suffix


def stats_path_for(state_path: str | os.PathLike) -> str:
    """The server's per-version statistics, beside the registry state."""
    return beside_state(state_path, ".serving-stats.json")
