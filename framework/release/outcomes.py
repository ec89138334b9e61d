"""Outcomes: the predictions a server answered, kept by request id until their true labels
arrive, for an A/B test of the canary against production on real results.

`mlops serve` records every answered prediction here (`record_prediction`, by the request
id it returned in `X-Request-Id`). Feedback names a request id and its true label(s)
(`record_feedback`: POST /v1/models/{name}/feedback, or `mlops release feedback FILE`);
the request's scores and labels then become *outcomes* of the version that answered it.

Scores, one per example (the first axis of the output is the examples): the output named
`outputs`, else the model's only (or alphabetically first) output. A single score per
example ([N] or [N, 1]: a probability of the positive class, or a regression value) is kept
as it is; several per example ([N, K], class scores) are kept as the argmax class and its
score. Outputs that are not finite numbers are not kept.

Feedback for a request with several examples is a list of labels, one per example, in the
order of the request's instances; for one example, a number or a one-element list. Labels
are numbers; for class scores they are class indices 0..K-1. Feedback for the same request
id twice: the second replaces the first. A new prediction under a request id already kept
replaces the old one (and any feedback it had).

Bounds, per version: the newest `max_predictions` answered requests awaiting feedback
(feedback for an older one is counted as unknown) and the newest `max_outcomes` labelled
requests. Predictions awaiting feedback live in the server's memory only; the labelled
outcomes are written whole, by a background thread (at most once a second, when they
changed), to `<name>.outcomes.json` beside the registry state, where `mlops release compare`
reads them, and a restarted server takes them up again.
"""

from __future__ import annotations

import collections
import csv
import io
import json
import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Optional

from framework.core.errors import UserError
from framework.release.registry import beside_state
from framework.storage import files

log = logging.getLogger("mlops.serve")

DEFAULT_MAX_PREDICTIONS = 100_000
DEFAULT_MAX_OUTCOMES = 100_000
UNKNOWN_IDS_SHOWN = 20  # unknown request ids named in a feedback answer
FORMAT = 1  # of the outcomes file


def outcomes_path_for(state_path: str | os.PathLike) -> str:
    """The server's labelled outcomes, beside the registry state."""
    return beside_state(state_path, ".outcomes.json")


class FeedbackError(ValueError):
    """Feedback the store refuses: the caller's mistake, said in one line."""


def store_from_settings(ab_test, state_path: str) -> Optional["OutcomeStore"]:
    """The server's store for the settings' release.ab_test (None when it is off), taking
    up the outcomes a previous server wrote."""
    if not ab_test.enabled:
        return None
    return OutcomeStore(outcomes_path_for(state_path), max_predictions=ab_test.max_predictions,
                        max_outcomes=ab_test.max_outcomes, resume=True)


# -- scores ----------------------------------------------------------------------------------


def scores_of(outputs: dict) -> Optional[tuple[str, int, list]]:
    """(kind, classes, one score per example) of a model's outputs, or None when they cannot
    be scored. kind "score": each example's single value; kind "class": [argmax class, its
    score] of each example, `classes` being K."""
    import numpy as np

    if not outputs:
        return None
    name = "outputs" if "outputs" in outputs else sorted(outputs)[0]
    array = np.asarray(outputs[name])
    if array.dtype.kind not in "biuf":
        return None
    if array.ndim == 0:
        array = array.reshape(1)
    flat = array.reshape(array.shape[0], -1).astype(float)
    if not np.isfinite(flat).all():
        return None
    if flat.shape[1] == 1:
        return "score", 1, [_compact(x) for x in flat[:, 0]]
    classes = np.argmax(flat, axis=1)
    chosen = flat[np.arange(len(flat)), classes]
    return "class", flat.shape[1], [[int(c), _compact(p)] for c, p in zip(classes, chosen)]


def _compact(value: float) -> float:
    """A model's float32 score to 7 significant digits: all it holds, and a short JSON."""
    return float(f"{float(value):.7g}")


# -- the feedback format, shared by the endpoint and the file import -------------------------


def parse_feedback(body: Any) -> tuple[list[tuple[str, Any]], bool]:
    """([(request_id, label)], single) of a feedback body: {"request_id", "label"} (single)
    or {"feedback": [{"request_id", "label"}, ...]}. Raises FeedbackError."""
    if not isinstance(body, dict):
        raise FeedbackError('feedback must be a JSON object: {"request_id": "...", "label": 1} '
                            'or {"feedback": [{"request_id": "...", "label": 1}, ...]}')
    if "feedback" in body:
        extra = sorted(set(body) - {"feedback"})
        if extra:
            raise FeedbackError(f"unknown key(s) {', '.join(extra)} beside 'feedback'")
        items = body["feedback"]
        if not isinstance(items, list) or not items:
            raise FeedbackError("'feedback' must be a non-empty list of "
                                '{"request_id": "...", "label": ...} objects')
        return [_item(item, f"feedback[{i}]") for i, item in enumerate(items)], False
    return [_item(body, "feedback")], True


def _item(item: Any, where: str) -> tuple[str, Any]:
    if not isinstance(item, dict):
        raise FeedbackError(f'{where}: expected an object {{"request_id": "...", "label": ...}}')
    extra = sorted(set(item) - {"request_id", "label"})
    if extra:
        raise FeedbackError(f"{where}: unknown key(s) {', '.join(extra)} "
                            "(expected request_id and label)")
    for key in ("request_id", "label"):
        if key not in item:
            raise FeedbackError(f"{where}: missing '{key}'")
    request_id = item["request_id"]
    if not isinstance(request_id, str) or not request_id.strip():
        raise FeedbackError(f"{where}: 'request_id' must be a non-empty string "
                            "(the X-Request-Id of the prediction)")
    label = item["label"]
    if isinstance(label, list):
        if not label:
            raise FeedbackError(f"{where}: 'label' is an empty list")
        for j, value in enumerate(label):
            _check_number(value, f"{where}.label[{j}]")
    else:
        _check_number(label, f"{where}.label")
    return request_id.strip(), label


def _check_number(value: Any, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        shown = json.dumps(value)
        raise FeedbackError(f"{where}: expected a number, got {shown[:40]}")
    if not math.isfinite(value):
        raise FeedbackError(f"{where}: expected a finite number, got {value}")


def _labels_for(label: Any, entry: "_Entry", where: str, request_id: str) -> list:
    """The labels of a checked feedback item, matched against the request it names."""
    labels = label if isinstance(label, list) else [label]
    n = len(entry.scores)
    if len(labels) != n:
        given = f"a list of {len(labels)}" if isinstance(label, list) else "one label"
        raise FeedbackError(f"{where}: request {request_id} had {n} examples, so 'label' "
                            f"must be a list of {n} labels (one per example); got {given}")
    if entry.kind == "class":
        for j, value in enumerate(labels):
            if value != int(value) or not 0 <= value < entry.classes:
                raise FeedbackError(
                    f"{where}: label {value} of example {j} is not a class of the model, "
                    f"which scores {entry.classes} classes (labels 0 to {entry.classes - 1})")
        return [int(v) for v in labels]
    return [v if isinstance(v, int) else float(v) for v in labels]


# -- the store ---------------------------------------------------------------------------------


@dataclass
class _Entry:
    t: float  # when the prediction was answered (Unix time)
    kind: str
    classes: int
    scores: list
    labels: Optional[list] = None  # replaced whole, never changed in place


class _Version:
    def __init__(self) -> None:
        self.pending: collections.OrderedDict[str, _Entry] = collections.OrderedDict()
        self.labelled: collections.OrderedDict[str, _Entry] = collections.OrderedDict()
        self.kind = "score"
        self.classes = 1


class OutcomeStore:
    """Predictions by request id, per version, and their labelled outcomes. Thread-safe:
    every change happens under one lock, and a feedback batch is checked whole before any
    of it is applied."""

    def __init__(self, path: Optional[str] = None, *,
                 max_predictions: int = DEFAULT_MAX_PREDICTIONS,
                 max_outcomes: int = DEFAULT_MAX_OUTCOMES, interval_s: float = 1.0,
                 resume: bool = False) -> None:
        self.path = os.fspath(path) if path else None  # a local path or gs://
        self.max_predictions = max(1, max_predictions)
        self.max_outcomes = max(1, max_outcomes)
        self.interval_s = interval_s
        self.started = time.time()
        self.accepted = 0  # feedback items applied since this store started
        self.unknown = 0  # feedback items naming a request id the store does not keep
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._versions: dict[str, _Version] = {}
        self._where: dict[str, str] = {}  # request id -> version; each id is kept once
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        if resume and self.path:
            self.load()

    # -- predictions and feedback ------------------------------------------------------------

    def record_prediction(self, request_id: str, version: str, outputs: dict) -> None:
        """Keep a request's scores until its label arrives (a reused id: the newest wins)."""
        scored = scores_of(outputs)
        if scored is None:
            return
        kind, classes, scores = scored
        entry = _Entry(time.time(), kind, classes, scores)
        with self._lock:
            self._forget(request_id)
            kept = self._versions.setdefault(version, _Version())
            kept.kind, kept.classes = kind, classes
            kept.pending[request_id] = entry
            self._where[request_id] = version
            while len(kept.pending) > self.max_predictions:
                old, _ = kept.pending.popitem(last=False)
                self._where.pop(old, None)

    def record_feedback(self, items: list[tuple[str, Any]], single: bool = False) -> dict:
        """Apply (request_id, label) items checked by parse_feedback: {"accepted", "unknown",
        "unknown_ids"}. Raises FeedbackError, having applied nothing, when a label does not
        fit its request (its number of examples, the model's classes)."""
        with self._lock:
            known, unknown = [], []
            for i, (request_id, label) in enumerate(items):
                entry = self._entry(request_id)
                if entry is None:
                    unknown.append(request_id)
                    continue
                where = "feedback" if single else f"feedback[{i}]"
                known.append((request_id, _labels_for(label, entry, where, request_id)))
            accepted = 0
            for request_id, labels in known:
                version = self._where.get(request_id)
                if version is None:  # pushed out by this very batch (larger than the bound)
                    unknown.append(request_id)
                    continue
                kept = self._versions[version]
                entry = kept.pending.pop(request_id, None) or kept.labelled.pop(request_id)
                entry.labels = labels
                kept.labelled[request_id] = entry
                accepted += 1
                while len(kept.labelled) > self.max_outcomes:
                    old, _ = kept.labelled.popitem(last=False)
                    self._where.pop(old, None)
            self.accepted += accepted
            self.unknown += len(unknown)
        if accepted:
            self._dirty.set()
        return {"accepted": accepted, "unknown": len(unknown),
                "unknown_ids": unknown[:UNKNOWN_IDS_SHOWN]}

    def _entry(self, request_id: str) -> Optional[_Entry]:
        version = self._where.get(request_id)
        if version is None:
            return None
        kept = self._versions[version]
        return kept.pending.get(request_id) or kept.labelled.get(request_id)

    def _forget(self, request_id: str) -> None:
        version = self._where.pop(request_id, None)
        if version is not None:
            kept = self._versions[version]
            kept.pending.pop(request_id, None)
            if kept.labelled.pop(request_id, None) is not None:
                self._dirty.set()

    # -- the file, for `mlops release compare` -----------------------------------------------

    def snapshot(self) -> dict:
        """The labelled outcomes per version, oldest first: [request_id, t, scores, labels]."""
        with self._lock:  # copies of references only: the rows are built outside the lock
            kept = {version: (v.kind, v.classes, len(v.pending), list(v.labelled.items()))
                    for version, v in self._versions.items()}
            feedback = {"accepted": self.accepted, "unknown": self.unknown}
        versions = {
            version: {"kind": kind, "classes": classes, "awaiting_feedback": waiting,
                      "outcomes": [[rid, round(e.t, 3), e.scores, e.labels] for rid, e in rows]}
            for version, (kind, classes, waiting, rows) in kept.items()}
        return {"format": FORMAT, "pid": os.getpid(), "started": self.started,
                "updated": time.time(), "feedback_since_start": feedback,
                "versions": versions}

    def load(self) -> None:
        """Take up the labelled outcomes a previous server wrote (a broken file is skipped)."""
        snapshot = read_outcomes(self.path)
        if not snapshot:
            return
        try:
            with self._lock:
                for version, data in snapshot.get("versions", {}).items():
                    kept = self._versions.setdefault(version, _Version())
                    kept.kind, kept.classes = data.get("kind", "score"), data.get("classes", 1)
                    for rid, t, scores, labels in data.get("outcomes", [])[-self.max_outcomes:]:
                        if rid in self._where:
                            continue
                        kept.labelled[rid] = _Entry(t, kept.kind, kept.classes, scores, labels)
                        self._where[rid] = version
        except (TypeError, ValueError, AttributeError) as exc:
            log.warning("%s: outcomes not taken up (%s)", self.path, exc)

    def start_writer(self) -> None:
        if self.path is None or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="outcomes-writer", daemon=True)
        self._thread.start()

    def stop_writer(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._dirty.is_set():
            self._dirty.clear()
            self.write()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            if self._dirty.is_set():
                self._dirty.clear()
                try:
                    self.write()
                except Exception:  # noqa: BLE001 - keep serving; the next change retries
                    log.exception("could not write the outcomes to %s", self.path)
                    self._dirty.set()

    def write(self) -> None:
        if self.path is None:
            return
        with self._write_lock:
            files.write_text(self.path, json.dumps(self.snapshot(), separators=(",", ":")))


def read_outcomes(path: str) -> Optional[dict]:
    """The outcomes file a server wrote, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads(files.read_text(os.fspath(path)) or "null")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


# -- feedback files, for `mlops release feedback` --------------------------------------------


def read_feedback_file(path: str) -> list[tuple[int, str, Any]]:
    """[(line, request_id, label)] of a CSV file (a header naming request_id and label;
    other columns are ignored; a label is a number or a JSON list of numbers) or a JSON
    Lines file (one {"request_id": ..., "label": ...} per line). Raises UserError naming
    the file and line."""
    text = files.read_text(path) if files.is_remote(path) else _read_local(path)
    if text is None:
        raise UserError(f"{path}: no such file")
    first = text.lstrip()[:1]
    lower = path.lower()
    if lower.endswith((".jsonl", ".ndjson", ".json")) or (not lower.endswith(".csv")
                                                             and first == "{"):
        rows = _read_json_lines(path, text)
    else:
        rows = _read_csv(path, text)
    if not rows:
        raise UserError(f"{path}: no feedback rows in the file")
    return rows


def _read_local(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8-sig") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, not a feedback file") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text (expected CSV or JSON Lines)") from None


def _read_json_lines(path: str, text: str) -> list[tuple[int, str, Any]]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}, line {number}: not JSON ({exc.msg}); expected one "
                            '{"request_id": "...", "label": ...} per line') from None
        try:
            request_id, label = _item(item, "row")
        except FeedbackError as exc:
            said = str(exc).removeprefix("row: ").removeprefix("row.")
            raise UserError(f"{path}, line {number}: {said}") from None
        rows.append((number, request_id, label))
    return rows


def _read_csv(path: str, text: str) -> list[tuple[int, str, Any]]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    names = [name.strip().lower() for name in header or []]
    if "request_id" not in names or "label" not in names:
        raise UserError(f"{path}: the first line must be a CSV header naming the columns "
                        f"request_id and label (got: {','.join(header or []) or 'nothing'})")
    at_id, at_label = names.index("request_id"), names.index("label")
    rows = []
    for cells in reader:
        number = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) <= max(at_id, at_label):
            raise UserError(f"{path}, line {number}: {len(cells)} columns, the header has "
                            f"{len(names)}")
        request_id, cell = cells[at_id].strip(), cells[at_label].strip()
        if not request_id:
            raise UserError(f"{path}, line {number}: empty request_id")
        try:
            _, label = _item({"request_id": request_id, "label": _number(cell)}, "row")
        except (ValueError, FeedbackError):
            raise UserError(f"{path}, line {number}: label {cell!r} is not a number "
                            "(or a JSON list of numbers, one per example)") from None
        rows.append((number, request_id, label))
    return rows


def _number(cell: str) -> Any:
    if cell.startswith("["):
        return json.loads(cell)
    try:
        return int(cell)
    except ValueError:
        return float(cell)
