"""The A/B test on outcomes: the canary against production on the labels that came back.

`compare` reads the outcomes file the server writes (framework/release/outcomes.py) and,
per version, the labelled examples of requests answered since the canary went out (both
versions over the same period, so a change in the traffic over time favours neither).

What is measured depends on the outcomes:

- a single score per example and every label 0 or 1: a binary classifier; accuracy at a
  threshold of 0.5 (a score above 0.5 is class 1) and ROC AUC;
- class scores ([N, K] outputs): a multi-class classifier; accuracy of the argmax class;
- a single score and other labels: regression; root mean squared error (RMSE).

Each metric's difference canary - production gets an interval at the confidence level
`release.ab_test.confidence`:

- accuracy: Newcombe's hybrid score interval for a difference of two independent
  proportions (his method 10, from the Wilson score intervals of each; Newcombe 1998,
  Statistics in Medicine 17:873-890);
- AUC: the normal interval of the difference with each AUC's standard error from Hanley and
  McNeil (1982, Radiology 143:29-36);
- RMSE: the normal interval of the difference with each RMSE's standard error from the delta
  method (SE(MSE) = sd(squared errors) / sqrt(n); SE(RMSE) = SE(MSE) / (2 RMSE)): no
  resampling, so the same outcomes always give the same figures.

Every labelled example counts as one independent observation (examples sent in one request
are not treated as correlated). The verdict follows one metric (`release.ab_test.metric`;
auto: AUC for a binary classifier, accuracy for a multi-class one, RMSE for regression):
"canary better" or "canary worse" when the whole interval is on one side of 0, otherwise
"no significant difference"; and only once each version has `min_samples` labelled examples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from statistics import NormalDist
from typing import Optional

from framework.core.errors import UserError
from framework.release.registry import ReleaseError, ReleaseState

BETTER = "canary better"
WORSE = "canary worse"
NO_DIFFERENCE = "no significant difference"
HIGHER_IS_BETTER = {"accuracy": True, "auc": True, "rmse": False}
AUTO_METRIC = {"binary": "auc", "multiclass": "accuracy", "regression": "rmse"}
METRIC_NAMES = {"accuracy": "accuracy", "auc": "AUC", "rmse": "RMSE"}


# -- statistics: small pure functions -----------------------------------------------------------


def z_value(confidence: float) -> float:
    """The two-sided standard normal quantile of a confidence level (0.95 -> 1.95996)."""
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(k: int, n: int, z: float) -> tuple[float, float]:
    """Wilson's score interval of a proportion k/n."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_difference(k1: int, n1: int, k2: int, n2: int,
                        z: float) -> tuple[float, float, float]:
    """(d, low, high): p1 - p2 with Newcombe's hybrid score interval (method 10)."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_interval(k1, n1, z)
    l2, u2 = wilson_interval(k2, n2, z)
    d = p1 - p2
    return (d, d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
            d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))


def roc_auc(scores, labels) -> float:
    """ROC AUC: the Mann-Whitney U of the positives' scores over n_pos * n_neg (ties count a
    half). NaN unless both labels occur."""
    import numpy as np

    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels) == 1
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    average_rank = ends - (counts - 1) / 2.0  # 1-based ranks, ties given their mean
    rank_sum = float(average_rank[inverse][labels].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def hanley_mcneil_se(auc: float, n_pos: int, n_neg: int) -> float:
    """Hanley and McNeil's standard error of an AUC from n_pos positives, n_neg negatives."""
    q1 = auc / (2 - auc)
    q2 = 2 * auc * auc / (1 + auc)
    variance = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc)
                + (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg)
    return math.sqrt(max(variance, 0.0))


def rmse_with_se(predictions, labels) -> tuple[float, float]:
    """(RMSE, its delta-method standard error) of predictions against labels."""
    import numpy as np

    squared = (np.asarray(predictions, dtype=float) - np.asarray(labels, dtype=float)) ** 2
    n = len(squared)
    if n == 0:
        return float("nan"), float("nan")
    mse = float(squared.mean())
    se_mse = float(squared.std(ddof=1)) / math.sqrt(n) if n > 1 else float("inf")
    rmse = math.sqrt(mse)
    return rmse, (se_mse / (2 * rmse) if rmse > 0 else 0.0)


def normal_difference(a: float, se_a: float, b: float, se_b: float,
                      z: float) -> tuple[float, float, float]:
    """(d, low, high): a - b of two independent estimates, with the normal interval."""
    d = a - b
    half = z * math.sqrt(se_a ** 2 + se_b ** 2)
    return d, d - half, d + half


# -- one version's outcomes ---------------------------------------------------------------------


@dataclass
class Sample:
    """The labelled outcomes of one version: one score (or predicted class) per example."""

    version: str
    role: str
    kind: str = "score"  # "score" or "class" (see outcomes.py)
    requests: int = 0
    scores: list = field(default_factory=list)
    labels: list = field(default_factory=list)

    @property
    def examples(self) -> int:
        return len(self.labels)


def sample_of(snapshot: Optional[dict], version: str, role: str,
              since: Optional[float] = None) -> Sample:
    """A version's outcomes from the outcomes file, of requests answered at or after
    `since` (Unix time; None: all)."""
    data = ((snapshot or {}).get("versions") or {}).get(version) or {}
    sample = Sample(version, role, data.get("kind", "score"))
    for _, t, scores, labels in data.get("outcomes", []):
        if since is not None and t < since:
            continue
        sample.requests += 1
        sample.labels.extend(labels)
        if sample.kind == "class":
            sample.scores.extend(c for c, _ in scores)
        else:
            sample.scores.extend(scores)
    return sample


def task_of(samples: list[Sample]) -> Optional[str]:
    """binary, multiclass or regression, from the outcomes of both versions together."""
    kinds = {s.kind for s in samples if s.examples}
    if not kinds:
        return None
    if len(kinds) > 1:
        raise UserError("the versions' outputs differ (one scores classes, the other gives "
                        "one score per example): their outcomes cannot be compared")
    if kinds == {"class"}:
        return "multiclass"
    labels = {float(y) for s in samples for y in s.labels}
    return "binary" if labels <= {0.0, 1.0} else "regression"


@dataclass
class Figures:
    """A version's metrics, with what their intervals need."""

    sample: Sample
    correct: int = 0  # examples classified right
    metrics: dict = field(default_factory=dict)  # name -> value
    errors: dict = field(default_factory=dict)  # name -> standard error (auc, rmse)

    def to_dict(self) -> dict:
        s = self.sample
        data = {"version": s.version, "role": s.role, "requests": s.requests,
                "examples": s.examples}
        data.update({k: _round(v) for k, v in self.metrics.items()})
        if s.examples and set(s.labels) <= {0, 1}:
            data["positives"] = int(sum(1 for y in s.labels if y == 1))
        return data


def figures_of(sample: Sample, task: Optional[str]) -> Figures:
    import numpy as np

    figures = Figures(sample)
    n = sample.examples
    if not n or task is None:
        return figures
    scores, labels = np.asarray(sample.scores, dtype=float), np.asarray(sample.labels, float)
    if task in ("binary", "multiclass"):
        predicted = (scores > 0.5).astype(float) if task == "binary" else scores
        figures.correct = int((predicted == labels).sum())
        figures.metrics["accuracy"] = figures.correct / n
    if task == "binary":
        value = roc_auc(scores, labels)
        if not math.isnan(value):
            n_pos = int((labels == 1).sum())
            figures.metrics["auc"] = value
            figures.errors["auc"] = hanley_mcneil_se(value, n_pos, n - n_pos)
    if task == "regression":
        figures.metrics["rmse"], figures.errors["rmse"] = rmse_with_se(scores, labels)
    return figures


# -- the comparison -----------------------------------------------------------------------------


@dataclass
class Comparison:
    production: Optional[Figures]
    canary: Optional[Figures]
    task: Optional[str]
    metric: Optional[str]  # the one the verdict follows
    confidence: float
    min_samples: int
    since: Optional[float] = None
    differences: dict = field(default_factory=dict)  # name -> (d, low, high)
    verdict: str = ""

    @property
    def decided(self) -> bool:
        return self.verdict in (BETTER, WORSE, NO_DIFFERENCE)

    def summary(self) -> str:
        """One line: the versions, the deciding figures and the verdict."""
        if self.canary is None or self.production is None:
            return self.verdict
        p, c = self.production.sample, self.canary.sample
        head = f"{c.role} {c.version} against production {p.version}"
        if not self.decided:
            return f"{head}: {self.verdict}"
        name = METRIC_NAMES[self.metric]
        d, low, high = self.differences[self.metric]
        return (f"{head} on {name}: {self.canary.metrics[self.metric]:.3f} against "
                f"{self.production.metrics[self.metric]:.3f}, difference {d:+.3f} "
                f"({self.confidence:.0%} CI {low:+.3f} to {high:+.3f}; {c.examples} and "
                f"{p.examples} labelled examples): {self.verdict}")

    def to_dict(self) -> dict:
        return {
            "task": self.task, "metric": self.metric, "confidence": self.confidence,
            "min_samples": self.min_samples, "since": _iso(self.since),
            "production": self.production.to_dict() if self.production else None,
            "canary": self.canary.to_dict() if self.canary else None,
            "difference": {k: {"value": _round(d), "low": _round(low), "high": _round(high)}
                           for k, (d, low, high) in self.differences.items()},
            "verdict": self.verdict, "decided": self.decided,
        }


def canary_since(state: ReleaseState, version: Optional[str]) -> Optional[float]:
    """When `version` last went out as the canary (Unix time), from the registry history."""
    for entry in reversed(state.history):
        if entry.get("action") == "canary" and entry.get("version") == version:
            try:
                return datetime.strptime(entry["at"], "%Y-%m-%dT%H:%M:%SZ").replace(
                    tzinfo=timezone.utc).timestamp()
            except (KeyError, ValueError):
                return None
    return None


def check_settings(confidence: float, min_samples: int) -> None:
    if not 0 < confidence < 1:
        raise UserError(f"key 'release.ab_test.confidence' must be between 0 and 1 "
                        f"(e.g. 0.95), got {confidence}")
    if min_samples < 1:
        raise UserError(f"key 'release.ab_test.min_samples' must be at least 1, got "
                        f"{min_samples}")


def compare(snapshot: Optional[dict], state: ReleaseState, *, min_samples: int = 200,
            confidence: float = 0.95, metric: str = "auto",
            challenger: Optional[str] = None) -> Comparison:
    """The canary (or `challenger`) against production on their outcomes."""
    check_settings(confidence, min_samples)
    challenger = challenger or state.canary
    comparison = Comparison(None, None, None, None, confidence, min_samples)
    if state.production is None:
        comparison.verdict = "no production version yet: nothing to compare"
        return comparison
    since = canary_since(state, challenger) if challenger else None
    samples = [sample_of(snapshot, state.production, "production", since)]
    if challenger:
        samples.append(sample_of(snapshot, challenger, _role(state, challenger), since))
    task = task_of(samples)
    chosen = _metric(metric, task)
    figures = [figures_of(s, task) for s in samples]
    comparison.production, comparison.task, comparison.metric = figures[0], task, chosen
    comparison.since = since
    if not challenger:
        comparison.verdict = "no canary is out: nothing to compare production with"
        return comparison
    comparison.canary = figures[1]
    z = z_value(confidence)
    comparison.differences = _differences(figures[1], figures[0], z)
    comparison.verdict = _verdict(comparison)
    return comparison


def _role(state: ReleaseState, version: str) -> str:
    return "canary" if version == state.canary else f"{state.stage(version)} version"


def _metric(setting: str, task: Optional[str]) -> Optional[str]:
    if task is None:
        return None if setting == "auto" else setting
    if setting == "auto":
        return AUTO_METRIC[task]
    fits = {"binary": ("accuracy", "auc"), "multiclass": ("accuracy",),
            "regression": ("rmse",)}[task]
    if setting not in fits:
        what = {"binary": "binary classifier (labels 0 and 1)",
                "multiclass": "multi-class classifier (class scores)",
                "regression": "regression (labels other than 0 and 1)"}[task]
        raise UserError(f"key 'release.ab_test.metric': {setting} does not fit the outcomes "
                        f"of a {what}; use {', '.join(fits)} or auto")
    return setting


def _differences(canary: Figures, production: Figures, z: float) -> dict:
    out = {}
    for name in ("accuracy", "auc", "rmse"):
        if name not in canary.metrics or name not in production.metrics:
            continue
        if name == "accuracy":
            out[name] = newcombe_difference(canary.correct, canary.sample.examples,
                                            production.correct, production.sample.examples, z)
        else:
            out[name] = normal_difference(canary.metrics[name], canary.errors[name],
                                          production.metrics[name], production.errors[name], z)
    return out


def _verdict(c: Comparison) -> str:
    short = min((c.canary, c.production), key=lambda f: f.sample.examples)
    if short.sample.examples < c.min_samples:
        s = short.sample
        return (f"not enough outcomes yet ({s.examples} of {c.min_samples} labelled examples "
                f"for {s.role} {s.version})")
    if c.metric not in c.differences:
        one_class = next(f.sample for f in (c.canary, c.production)
                         if c.metric not in f.metrics)
        label = int(one_class.labels[0])
        return (f"not enough outcomes yet ({METRIC_NAMES[c.metric]} needs labels of both "
                f"classes; {one_class.role} {one_class.version} has only label {label})")
    _, low, high = c.differences[c.metric]
    if low > 0 or high < 0:
        gained = low > 0
        return BETTER if gained == HIGHER_IS_BETTER[c.metric] else WORSE
    return NO_DIFFERENCE


# -- promote --require-winner -------------------------------------------------------------------


def require_winner(state: ReleaseState, snapshot: Optional[dict], ab_test,
                   version: Optional[str] = None) -> Optional[Comparison]:
    """Refuse (ReleaseError) unless the version about to be promoted (the canary when None)
    won its A/B test against production. Nothing to check before the first production
    version, or with no canary out and no version named (the registry refuses that)."""
    if state.production is None or (version is None and state.canary is None):
        return None
    version = version or state.canary
    if version == state.production:
        return None  # the registry says it is already in production
    if version != state.canary:
        raise ReleaseError(
            f"--require-winner: version {version} is not the canary, so it has no A/B test "
            f"to win (send it out first: mlops release canary {version} --percent N)")
    comparison = compare(snapshot, state, min_samples=ab_test.min_samples,
                         confidence=ab_test.confidence, metric=ab_test.metric,
                         challenger=version)
    if comparison.verdict != BETTER:
        raise ReleaseError(f"promote refused (--require-winner / release.ab_test."
                           f"require_winner): {comparison.summary()}")
    return comparison


# -- text -----------------------------------------------------------------------------------------


def format_comparison(c: Comparison) -> list[str]:
    """The lines `mlops release compare` prints."""
    if c.production is None:
        return [c.verdict]
    lines = []
    if c.canary is not None:
        s = c.canary.sample
        since = f" since it went out ({_iso(c.since)})" if c.since else ""
        lines.append(f"{s.role} {s.version} against production {c.production.sample.version}"
                     f", outcomes of requests answered{since}")
    names = [m for m in ("accuracy", "auc", "rmse")
             if any(m in f.metrics for f in (c.production, c.canary) if f)]
    rows = [["VERSION", "ROLE", "REQUESTS", "EXAMPLES", *[METRIC_NAMES[m].upper()
                                                          for m in names]]]
    for f in (c.production, c.canary):
        if f is None:
            continue
        s = f.sample
        rows.append([s.version, s.role, str(s.requests), str(s.examples),
                     *[f"{f.metrics[m]:.3f}" if m in f.metrics else "-" for m in names]])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [row[i].rjust(widths[i]) for i in range(2, len(row))]
        lines.append("  ".join(cells).rstrip())
    for name, (d, low, high) in c.differences.items():
        better = "higher" if HIGHER_IS_BETTER[name] else "lower"
        lines.append(f"canary - production {METRIC_NAMES[name]}: {d:+.3f} "
                     f"({c.confidence:.0%} CI {low:+.3f} to {high:+.3f}; {better} is better)")
    if c.canary is None:
        lines.append(c.verdict)
    elif c.metric:
        lines.append(f"verdict on {METRIC_NAMES[c.metric]} (at least {c.min_samples} labelled "
                     f"examples each): {c.verdict}")
    else:
        lines.append(f"verdict: {c.verdict}")
    return lines


def _round(value: Optional[float]) -> Optional[float]:
    return None if value is None or not math.isfinite(value) else round(value, 6)


def _iso(t: Optional[float]) -> Optional[str]:
    if t is None:
        return None
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
