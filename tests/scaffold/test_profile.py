"""The decisions `mlops new` makes from TFDV's statistics of small tables: each column's kind
and reason, the task, the curated schema, and the refusals made before anything is written."""

from __future__ import annotations

import numpy as np
import pytest

from framework.core.errors import UserError
from framework.scaffold import data, profile
from tests.scaffold.conftest import ROWS, write_csv


def _kinds(found) -> dict[str, tuple[str, str]]:
    return {c.name: (c.kind, c.reason) for c in found.columns}


# --------------------------------------------------------------------------- feature kinds

def test_floats_are_numeric_and_a_gap_is_filled_with_the_mean(mixed):
    _, found = mixed
    kind, reason = _kinds(found)["Price"]
    assert kind == profile.NUMERIC
    assert reason == "numbers; 3 missing, filled with the mean"


def test_integers_with_many_values_are_numeric_and_with_few_are_codes(mixed):
    kinds = _kinds(mixed[1])
    assert kinds["count"][0] == profile.NUMERIC
    assert kinds["count"][1].startswith("integers, ") and "(more than 20)" in kinds["count"][1]
    assert kinds["rating"] == (profile.CATEGORICAL, "5 distinct integers (at most 20): codes")


def test_strings_with_few_values_get_a_vocabulary_and_with_many_are_hashed(mixed):
    kinds = _kinds(mixed[1])
    assert kinds["colour"] == (profile.CATEGORICAL, "3 distinct strings (at most 50); 2 missing, "
                                                    "a category of their own")
    assert kinds["user"] == (profile.HASHED, "80 distinct strings (more than 50): 100 hash buckets")


def test_free_text_is_excluded_as_text_not_as_an_identifier(mixed):
    kind, reason = _kinds(mixed[1])["review"]
    assert kind == profile.EXCLUDED
    assert reason.startswith("free text (") and reason.endswith("it needs a text model")


def test_identifiers_constants_and_empty_columns_are_excluded_with_their_reason(mixed):
    kinds = _kinds(mixed[1])
    assert kinds["row_id"] == (profile.EXCLUDED, "a different value in every row: an identifier "
                                                 "(a measurement? move it to NUMERIC_FEATURE_KEYS)")
    assert kinds["code"] == (profile.EXCLUDED, "a different value in every row: an identifier")
    assert kinds["country"] == (profile.EXCLUDED, "the same value (NL) in every row")
    assert kinds["empty"] == (profile.EXCLUDED, "no value in any row")


def test_exclude_and_id_take_their_columns_out_whatever_their_statistics(mixed):
    kinds = _kinds(mixed[1])
    assert kinds["leak"] == (profile.EXCLUDED, "excluded with --exclude")
    assert kinds["ticket"] == (profile.EXCLUDED, "the row identifier (--id)")
    assert kinds["label"] == (profile.LABEL, "the label (--label)")


def test_a_name_that_is_not_an_identifier_is_renamed_and_either_name_finds_it(mixed):
    prepared, found = mixed
    assert prepared.renamed == {"Price ($)": "Price"}
    assert next(c for c in found.columns if c.name == "Price").source_name == "Price ($)"
    assert profile.resolve_columns(prepared, "label", ["Price ($)"], None)[1] == ["Price"]
    assert profile.resolve_columns(prepared, "label", ["Price"], None)[1] == ["Price"]


# -------------------------------------------------------------------------------- the schema

def test_schema_deprecates_what_the_model_does_not_use_and_keeps_the_label_from_serving(mixed):
    from tensorflow_metadata.proto.v0 import schema_pb2

    _, found = mixed
    features = {f.name: f for f in found.schema.feature}
    deprecated = {n for n, f in features.items()
                  if f.lifecycle_stage == schema_pb2.LifecycleStage.DEPRECATED}
    assert deprecated == {c.name for c in found.columns
                          if c.kind == profile.EXCLUDED and c.name in features}
    assert {"row_id", "code", "country", "leak", "ticket", "review"} <= deprecated
    assert list(features["label"].not_in_environment) == ["SERVING"]
    assert list(found.schema.default_environment) == ["TRAINING", "SERVING"]


def test_schema_domains_fit_each_kind(mixed):
    _, found = mixed
    features = {f.name: f for f in found.schema.feature}
    domains = {d.name: sorted(d.value) for d in found.schema.string_domain}
    assert domains[features["colour"].domain] == ["blue", "green", "red"]
    assert domains[features["label"].domain] == ["no", "yes"]
    assert not features["user"].domain  # hashed: new users are expected
    assert (features["rating"].int_domain.min, features["rating"].int_domain.max) == (1, 5)
    assert features["Price"].float_domain.disallow_nan and features["Price"].float_domain.disallow_inf
    # ExampleGen writes an empty cell as a feature without a value: zero or one value.
    assert features["Price"].value_count.min == 0 and features["Price"].value_count.max == 1


# ---------------------------------------------------------------------------------- the task

@pytest.fixture(scope="module")
def labels(tmp_path_factory):
    """(rows, {column: Facts}) of a table of candidate labels, the float ones counted too."""
    from framework.scaffold.profile import statistics

    rng = np.random.RandomState(3)
    gappy = rng.randint(0, 2, ROWS).astype(object)
    gappy[7] = None
    path = write_csv(tmp_path_factory.mktemp("labels") / "labels.csv", {
        "two_strings": rng.choice(["spam", "ham"], ROWS),
        "three_strings": rng.choice(["a", "b", "c"], ROWS),
        "two_ints": rng.randint(0, 2, ROWS),
        "many_ints": rng.randint(0, 30, ROWS) + np.arange(ROWS) % 2 * 100,
        "two_floats": rng.randint(0, 2, ROWS).astype(float),  # written 0.0, 1.0
        "many_floats": rng.normal(10, 3, ROWS),
        "gappy": gappy,
        "constant": ["ok"] * ROWS,
        "uid": [f"id-{i}" for i in range(ROWS)],
    })
    rows, _, facts = statistics(path, ["two_floats", "many_floats"])
    return rows, facts


def test_a_string_label_is_classified_binary_or_multi_class_by_its_values(labels):
    rows, facts = labels
    task, reason, classes = profile.label_task(facts["two_strings"], rows, None)
    assert (task, classes) == ("binary", ["ham", "spam"])
    assert reason.endswith("the model scores spam")
    task, _, classes = profile.label_task(facts["three_strings"], rows, None)
    assert (task, classes) == ("multiclass", ["a", "b", "c"])


def test_a_numeric_label_with_few_values_is_classified_and_with_many_is_regressed(labels):
    rows, facts = labels
    assert profile.label_task(facts["two_ints"], rows, None)[::2] == ("binary", [0, 1])
    assert profile.label_task(facts["two_floats"], rows, None)[::2] == ("binary", [0.0, 1.0])
    task, reason, _ = profile.label_task(facts["many_ints"], rows, None)
    assert task == "regression" and "(more than 20;" in reason
    assert profile.label_task(facts["many_floats"], rows, None)[0] == "regression"


def test_task_option_overrides_the_default(labels):
    rows, facts = labels
    assert profile.label_task(facts["two_ints"], rows, "regression")[0] == "regression"
    assert profile.label_task(facts["many_ints"], rows, "classification")[0] == "multiclass"


# --------------------------------------------------------------------------------- refusals

def test_refuses_a_label_column_that_does_not_exist_and_lists_the_columns(tmp_path):
    prepared = data.prepare(write_csv(tmp_path / "t.csv", {"a b": [1, 2], "y": [0, 1]}),
                            tmp_path / "data")
    with pytest.raises(UserError, match=r"no column 'target' in .*t\.csv \(--label; its "
                                        r"columns: a b, y\)"):
        profile.resolve_columns(prepared, "target", [], None)


def test_refuses_a_label_with_one_value(labels):
    rows, facts = labels
    with pytest.raises(UserError, match=r"label column 'constant' has one value \(ok\) in every "
                                        r"row: there is nothing to predict"):
        profile.label_task(facts["constant"], rows, None)


def test_refuses_a_label_with_gaps(labels):
    rows, facts = labels
    with pytest.raises(UserError, match=f"label column 'gappy' is empty in 1 of {ROWS} rows"):
        profile.label_task(facts["gappy"], rows, None)


def test_refuses_regression_of_a_string_label(labels):
    rows, facts = labels
    with pytest.raises(UserError, match="--task regression needs a numeric label; "
                                        "'two_strings' holds strings"):
        profile.label_task(facts["two_strings"], rows, "regression")


def test_refuses_more_classes_than_a_classifier_takes(labels):
    rows, facts = labels
    with pytest.raises(UserError, match=r"label column 'many_floats' has \d+ distinct values: "
                                        r"too many classes \(at most 100\)"):
        profile.label_task(facts["many_floats"], rows, "classification")


def test_refuses_a_table_without_a_usable_feature_and_says_why_of_each_column(labels, tmp_path):
    rows, facts = labels
    prepared = data.PreparedData(source=tmp_path / "t.csv", csv=tmp_path / "t.csv", copied=True,
                                 how="", columns=["uid", "constant", "many_ints", "two_ints"])
    with pytest.raises(UserError) as refused:
        profile.decide(prepared, facts, rows, label="two_ints", exclude=["many_ints"])
    assert str(refused.value).endswith(
        "besides the label 'two_ints': uid: a different value in every row: an identifier; "
        "constant: the same value (ok) in every row; many_ints: excluded with --exclude")
