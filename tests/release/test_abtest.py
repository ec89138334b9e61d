"""The A/B test's statistics against textbook values, and its verdicts (no server, fast)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from framework.core.errors import UserError
from framework.release.abtest import (
    BETTER,
    NO_DIFFERENCE,
    WORSE,
    compare,
    format_comparison,
    hanley_mcneil_se,
    newcombe_difference,
    normal_difference,
    require_winner,
    rmse_with_se,
    roc_auc,
    wilson_interval,
    z_value,
)
from framework.release.registry import ReleaseError, ReleaseState

OUT_AT = "2026-03-01T12:00:00Z"
OUT_T = 1772366400.0  # OUT_AT as Unix time
Z95 = 1.959963984540054


# -- the statistics ---------------------------------------------------------------------------


def test_z_value_is_the_two_sided_normal_quantile():
    assert z_value(0.95) == pytest.approx(Z95, abs=1e-9)
    assert z_value(0.99) == pytest.approx(2.5758293, abs=1e-6)


def test_wilson_interval_matches_newcombe_1998_example():
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", 81/263.
    assert wilson_interval(81, 263, Z95) == pytest.approx((0.2553, 0.3662), abs=5e-5)


@pytest.mark.parametrize("k1, n1, k2, n2, low, high", [
    (56, 70, 48, 80, 0.0524, 0.3339),
    (9, 10, 3, 10, 0.1705, 0.8090),
    (5, 56, 0, 29, -0.0381, 0.1926),
], ids=["56of70-48of80", "9of10-3of10", "5of56-0of29"])
def test_newcombe_difference_matches_his_method_10_table(k1, n1, k2, n2, low, high):
    # Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10.
    d, lo, hi = newcombe_difference(k1, n1, k2, n2, Z95)
    assert d == pytest.approx(k1 / n1 - k2 / n2)
    assert (lo, hi) == pytest.approx((low, high), abs=5e-5)


def test_roc_auc_agrees_with_sklearn_with_and_without_ties():
    from sklearn.metrics import roc_auc_score

    assert roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 2, 1000)
    for scores in (rng.random(1000) + 0.3 * labels,  # no ties
                   np.round(rng.random(1000) + 0.3 * labels, 1),  # many ties
                   np.full(1000, 0.5)):  # a constant model: every pair a tie
        assert roc_auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert math.isnan(roc_auc([0.2, 0.9], [1, 1]))


def test_hanley_mcneil_standard_error_matches_the_paper():
    # Hanley and McNeil (1982), Radiology 143:29-36: the CT example, 51 abnormal and 58
    # normal images, AUC 0.893, SE 0.032.
    assert hanley_mcneil_se(0.893, 51, 58) == pytest.approx(0.032, abs=6e-4)
    # By hand: Q1 = 0.8/1.2, Q2 = 1.28/1.8, (0.16 + 49 (Q1 - 0.64) + 49 (Q2 - 0.64)) / 2500.
    assert hanley_mcneil_se(0.8, 50, 50) == pytest.approx(math.sqrt(4.951111 / 2500), abs=1e-6)


def test_rmse_and_its_delta_method_standard_error_by_hand():
    # Squared errors 1, 1, 9, 9: MSE 5, sd 8/sqrt(3), SE(MSE) = sd/2, SE(RMSE) = SE(MSE)/(2 RMSE).
    rmse, se = rmse_with_se([0, 0, 0, 0], [1, 1, 3, 3])
    assert rmse == pytest.approx(math.sqrt(5))
    assert se == pytest.approx((8 / math.sqrt(3)) / 2 / (2 * math.sqrt(5)))


def test_normal_difference_interval():
    d, low, high = normal_difference(0.9, 0.03, 0.8, 0.04, Z95)
    assert (d, low, high) == pytest.approx((0.1, 0.1 - Z95 * 0.05, 0.1 + Z95 * 0.05))


# -- verdicts -----------------------------------------------------------------------------------


def state(canary: str | None = "200", at: str = OUT_AT) -> ReleaseState:
    versions = {"100": {"stage": "production"}, "200": {"stage": "canary" if canary else
                                                           "candidate"}}
    history = [{"at": at, "action": "canary", "version": "200"}] if canary else []
    return ReleaseState(model_name="taxi", versions=versions, production="100", canary=canary,
                        canary_percent=50 if canary else 0, history=history)


def version(scores, labels, t: float = OUT_T + 60, per_request: int = 1, kind="score") -> dict:
    rows = []
    for start in range(0, len(labels), per_request):
        rows.append([f"r{start}-{t}", t, list(scores[start:start + per_request]),
                     [int(y) if float(y).is_integer() else float(y)
                      for y in labels[start:start + per_request]]])
    return {"kind": kind, "outcomes": rows}


def good_and_useless(n: int, seed: int = 1):
    """(a classifier that ranks well, a constant one) on the same kind of traffic."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    good = np.clip(0.5 + 0.35 * (labels - 0.5) * 2 + rng.normal(0, 0.25, n), 0, 1).round(4)
    return labels, good.tolist(), [0.5] * n


def test_a_canary_that_ranks_better_wins_and_one_that_ranks_worse_loses():
    labels, good, useless = good_and_useless(400)
    better = compare({"versions": {"100": version(useless, labels), "200": version(good, labels)}},
                     state())
    assert (better.task, better.metric, better.verdict) == ("binary", "auc", BETTER)
    d, low, high = better.differences["auc"]
    assert low > 0 and d == pytest.approx(better.canary.metrics["auc"] - 0.5)
    worse = compare({"versions": {"100": version(good, labels), "200": version(useless, labels)}},
                    state())
    assert worse.verdict == WORSE
    assert "canary 200 against production 100 on AUC: 0.500 against" in worse.summary()
    assert worse.summary().endswith(": canary worse")


def test_two_equally_good_versions_make_no_significant_difference():
    labels, good, _ = good_and_useless(400, seed=2)
    other_labels, other, _ = good_and_useless(400, seed=3)
    c = compare({"versions": {"100": version(good, labels), "200": version(other, other_labels)}},
                state())
    assert c.verdict == NO_DIFFERENCE
    assert c.differences["auc"][1] < 0 < c.differences["auc"][2]


def test_no_verdict_before_each_version_has_min_samples_labelled_examples():
    labels, good, useless = good_and_useless(400)
    snapshot = {"versions": {"100": version(useless, labels),
                             "200": version(good[:150], labels[:150], per_request=3)}}
    c = compare(snapshot, state(), min_samples=200)
    assert c.verdict == "not enough outcomes yet (150 of 200 labelled examples for canary 200)"
    assert not c.decided and c.canary.sample.requests == 50
    assert compare(snapshot, state(), min_samples=150).verdict == BETTER


def test_only_outcomes_since_the_canary_went_out_count_for_both_versions():
    labels, good, useless = good_and_useless(400)
    before = version(good, labels, t=OUT_T - 3600)  # production, alone, an hour before
    during = version(useless, labels)
    snapshot = {"versions": {"100": {"kind": "score",
                                     "outcomes": before["outcomes"] + during["outcomes"]},
                             "200": version(useless, labels)}}
    c = compare(snapshot, state())
    assert c.production.sample.examples == 400 and c.production.metrics["auc"] == 0.5
    assert c.verdict == NO_DIFFERENCE  # against production's earlier outcomes it would lose


def test_auc_needs_both_classes():
    n = 300
    c = compare({"versions": {"100": version([0.2] * n, [0] * n),
                              "200": version([0.3] * n, [0] * n)}}, state(), min_samples=10)
    assert c.verdict == ("not enough outcomes yet (AUC needs labels of both classes; canary "
                         "200 has only label 0)")


def test_regression_outcomes_are_compared_on_rmse_where_lower_wins():
    rng = np.random.default_rng(4)
    truth = rng.normal(10, 3, 500)
    close = (truth + rng.normal(0, 0.5, 500)).round(3).tolist()
    far = (truth + rng.normal(0, 2.0, 500)).round(3).tolist()
    labels = truth.round(3)
    c = compare({"versions": {"100": version(far, labels), "200": version(close, labels)}},
                state())
    assert (c.task, c.metric, c.verdict) == ("regression", "rmse", BETTER)
    assert c.canary.metrics["rmse"] == pytest.approx(0.5, abs=0.1)
    assert set(c.differences) == {"rmse"}
    with pytest.raises(UserError, match="key 'release.ab_test.metric': auc does not fit"):
        compare({"versions": {"100": version(far, labels), "200": version(close, labels)}},
                state(), metric="auc")


def test_multi_class_outcomes_are_compared_on_accuracy_with_newcombe_interval():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 3, 600)
    right = [[int(y), 0.8] for y in labels]
    guess = [[int(c), 0.4] for c in rng.integers(0, 3, 600)]
    c = compare({"versions": {"100": version(guess, labels, kind="class"),
                              "200": version(right, labels, kind="class")}}, state())
    assert (c.task, c.metric, c.verdict) == ("multiclass", "accuracy", BETTER)
    assert c.canary.metrics["accuracy"] == 1.0
    k = c.production.correct
    assert c.differences["accuracy"] == pytest.approx(newcombe_difference(600, 600, k, 600, Z95))


def test_accuracy_can_decide_a_binary_test_when_chosen():
    labels, good, useless = good_and_useless(400)
    c = compare({"versions": {"100": version(useless, labels), "200": version(good, labels)}},
                state(), metric="accuracy")
    assert c.metric == "accuracy" and c.verdict == BETTER
    assert c.production.correct == int((np.asarray(labels) == 0).sum())  # 0.5 is not above 0.5


def test_without_a_canary_compare_shows_production_alone():
    labels, good, _ = good_and_useless(50)
    c = compare({"versions": {"100": version(good, labels)}}, state(canary=None))
    assert c.canary is None and c.verdict.startswith("no canary is out")
    lines = format_comparison(c)
    assert lines[0].split() == ["VERSION", "ROLE", "REQUESTS", "EXAMPLES", "ACCURACY", "AUC"]
    assert lines[1].split()[:4] == ["100", "production", "50", "50"]
    assert lines[-1] == "no canary is out: nothing to compare production with"


def test_the_printed_comparison_names_figures_interval_and_verdict():
    labels, good, useless = good_and_useless(400)
    c = compare({"versions": {"100": version(good, labels), "200": version(useless, labels)}},
                state())
    text = "\n".join(format_comparison(c))
    assert "canary 200 against production 100, outcomes of requests answered since it went " \
           f"out ({OUT_AT})" in text
    assert "canary - production AUC: -" in text and "(95% CI -" in text
    assert text.endswith("verdict on AUC (at least 200 labelled examples each): canary worse")
    assert c.to_dict()["difference"]["auc"]["high"] < 0


@pytest.mark.parametrize("confidence", [0, 1, 95])
def test_a_confidence_level_outside_0_1_is_a_settings_error(confidence):
    with pytest.raises(UserError, match="key 'release.ab_test.confidence' must be between 0 "
                       "and 1"):
        compare({}, state(), confidence=confidence)


# -- promote --require-winner --------------------------------------------------------------------


AB = SimpleNamespace(min_samples=200, confidence=0.95, metric="auto")


def test_require_winner_lets_a_winning_canary_through_and_refuses_the_rest():
    labels, good, useless = good_and_useless(400)
    wins = {"versions": {"100": version(useless, labels), "200": version(good, labels)}}
    assert require_winner(state(), wins, AB).verdict == BETTER
    loses = {"versions": {"100": version(good, labels), "200": version(useless, labels)}}
    with pytest.raises(ReleaseError) as refused:
        require_winner(state(), loses, AB)
    message = str(refused.value)
    assert message.startswith("promote refused (--require-winner / release.ab_test."
                              "require_winner): canary 200 against production 100 on AUC: "
                              "0.500 against ")
    assert "95% CI" in message and "400 and 400 labelled examples" in message
    assert message.endswith("canary worse")
    with pytest.raises(ReleaseError, match=r"not enough outcomes yet \(0 of 200 labelled "
                       r"examples for canary 200\)"):
        require_winner(state(), None, AB)


def test_require_winner_has_nothing_to_check_before_the_first_production_version():
    first = ReleaseState(model_name="taxi", versions={"100": {"stage": "candidate"}})
    assert require_winner(first, None, AB, "100") is None


def test_require_winner_refuses_a_version_that_was_not_out_as_the_canary():
    with pytest.raises(ReleaseError, match="version 300 is not the canary, so it has no A/B "
                       "test to win"):
        require_winner(state(), None, AB, "300")
