"""Write a pipeline package, and its test, from a profile of the user's table.

Each file comes from a template in templates/ (string.Template: `${name}` is filled in, `$$`
is a dollar sign). What differs by task (the label's encoding, the model's output layer, its
loss, metrics and tuner objective, the blessing thresholds) is chosen here, so the files
hold only the code of their own task.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from string import Template

from framework.scaffold.data import PreparedData, sample_rows
from framework.scaffold.profile import (
    CATEGORICAL,
    EXCLUDED,
    HASH_BUCKETS,
    HASHED,
    NUMERIC,
    TASKS,
    Profile,
    round_down,
    significant,
)

TEMPLATES = Path(__file__).resolve().parent / "templates"
WIDTH = 99  # generated lines stay within this many characters
BATCH_SIZE = 32  # settings.yaml's training.batch_size
TEST_ROWS = 6  # rows of the data in the package's test

# What differs by task in model.py: the output layer, loss, metrics and tuner objective.
MODEL = {
    "binary": {
        "model_kind": "binary classifier",
        "output_doc": "the probability of the second class",
        "output_layer": '    output = tf.keras.layers.Dense(1, activation="sigmoid")(hidden)',
        "loss": "binary_crossentropy",
        "metrics": 'tf.keras.metrics.BinaryAccuracy(), tf.keras.metrics.AUC(name="auc")',
        "objective": '"val_auc", "max"',
    },
    "multiclass": {
        "model_kind": "multi-class classifier",
        "output_doc": "one probability per class",
        "output_layer": ("    output = tf.keras.layers.Dense(\n"
                         '        len(features.LABEL_VALUES), activation="softmax")(hidden)'),
        "loss": "sparse_categorical_crossentropy",
        "metrics": "tf.keras.metrics.SparseCategoricalAccuracy()",
        "objective": '"val_sparse_categorical_accuracy", "max"',
    },
    "regression": {
        "model_kind": "regression model",
        "output_doc": "one number",
        "output_layer": (
            "    # One output in standard deviations from the mean, rescaled to the label's units:\n"
            "    # training starts from the mean, whatever the label's scale.\n"
            "    output = tf.keras.layers.Rescaling(\n"
            "        scale=features.LABEL_STD, offset=features.LABEL_MEAN)(tf.keras.layers.Dense(1)(hidden))"),
        "loss": "mean_squared_error",
        "metrics": "tf.keras.metrics.RootMeanSquaredError()",
        "objective": '"val_root_mean_squared_error", "min"',
    },
}
# The Evaluator's metric (a name framework.pipeline.pipeline_support.EVAL_METRICS knows).
METRIC = {"binary": "auc", "multiclass": "sparse_categorical_accuracy",
          "regression": "root_mean_squared_error"}
TASK_COMMENT = {
    "binary": "model.py scores one probability per row: that the label is LABEL_VALUES[1].",
    "multiclass": "model.py scores one probability per class of features.LABEL_VALUES.",
    "regression": "model.py predicts the label as a number.",
}
CLASS_INDEX = '''

def _class_index(label):
    """The label's position in features.LABEL_VALUES (a value not there would get 0: the
    schema's domain of the label stops a run on an unknown class before Transform)."""
    classes = tf.constant(features.LABEL_VALUES, dtype=label.dtype)
    return tf.argmax(tf.cast(tf.equal(label[:, None], classes), tf.int64), axis=1)
'''
NUMERIC_TEST = '''def test_numbers_come_out_as_finite_z_scores(transformed):
    for row in transformed:
        for key in features.NUMERIC_FEATURE_KEYS:
            value = float(row[features.transformed_name(key)])
            assert abs(value) < float("inf"), (key, row)  # false for NaN too'''
CATEGORY_TEST = '''def test_categories_come_out_as_ids_the_one_hot_layers_take(transformed):
    vocabulary = features.VOCAB_SIZE + features.OOV_SIZE
    sizes = {
        **{key: vocabulary for key in features.CATEGORICAL_FEATURE_KEYS},
        **{key: features.HASH_BUCKETS for key in features.HASHED_FEATURE_KEYS},
    }
    for row in transformed:
        for key, size in sizes.items():
            assert 0 <= int(row[features.transformed_name(key)]) < size, (key, row)'''
# Beam keeps no order: outputs and ROWS are compared as sorted lists.
CLASS_TEST = '''def test_the_label_comes_out_as_its_class_index(transformed):
    expected = sorted(features.LABEL_VALUES.index(row[features.LABEL_KEY]) for row in ROWS)
    label = features.transformed_name(features.LABEL_KEY)
    assert sorted(int(row[label]) for row in transformed) == expected'''
NUMBER_TEST = '''def test_the_label_comes_out_as_the_number_to_predict(transformed):
    expected = sorted(row[features.LABEL_KEY] for row in ROWS)
    label = features.transformed_name(features.LABEL_KEY)
    assert sorted(float(row[label]) for row in transformed) == pytest.approx(expected, rel=1e-6)'''


# --------------------------------------------------------------------- Python literals

def _inline(value) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_inline(k)}: {_inline(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    return repr(value)


def literal(value, indent: int = 0, prefix: int = 0) -> str:
    """`value` as Python source: on one line when it fits after `prefix` characters, else one
    line per group of items that fit, indented four spaces more than `indent`."""
    one = _inline(value)
    if indent + prefix + len(one) <= WIDTH or not isinstance(value, (list, dict)) or not value:
        return one
    inner = indent + 4
    if isinstance(value, dict):
        items = [f"{_inline(k)}: {literal(v, inner, len(_inline(k)) + 2)}" for k, v in value.items()]
        brackets = "{}"
    else:
        items = [literal(v, inner) for v in value]
        brackets = "[]"
    lines: list[str] = []
    for item in items:
        fits = lines and "\n" not in item and "\n" not in lines[-1] and \
            inner + len(lines[-1]) + len(item) + 3 <= WIDTH
        if fits:
            lines[-1] += f", {item}"
        else:
            lines.append(item)
    body = "".join(f"{' ' * inner}{line},\n" for line in lines)
    return f"{brackets[0]}\n{body}{' ' * indent}{brackets[1]}"


def _assign(name: str, value) -> str:
    return f"{name} = {literal(value, 0, len(name) + 3)}"


# ------------------------------------------------------------------------------ the values

def _typed(text: str, kind: str):
    """A CSV cell as the tf.Example value ExampleGen makes of it (None: an empty cell)."""
    if text == "":
        return None
    return {"INT": int, "FLOAT": float}.get(kind, str)(text)


def _rows(profile: Profile, prepared: PreparedData) -> list[dict]:
    """The package test's rows: typed values of every column the schema keeps in use."""
    keep = [c.name for c in profile.columns if c.kind != EXCLUDED and c.name in profile.facts]
    rows = sample_rows(prepared.csv, TEST_ROWS)
    return [{k: _typed(row[k], profile.facts[k].type) for k in keep} for row in rows]


def _example(profile: Profile, rows: list[dict]) -> dict:
    """One prediction request's features: the first complete test row, without the label."""
    used = [c.name for c in profile.columns if c.kind in (NUMERIC, CATEGORICAL, HASHED)]
    complete = [r for r in rows if all(r.get(k) is not None for k in used)]
    row = complete[0] if complete else rows[0]
    fill = {"INT": 0, "FLOAT": 0.0, "STRING": ""}
    return {k: row[k] if row.get(k) is not None else fill[profile.facts[k].type] for k in used}


def _label_constants(profile: Profile) -> str:
    if profile.task == "regression":
        return ("# The label's mean and standard deviation in the data `mlops new` read: the model\n"
                "# predicts in standard deviations from the mean and rescales (model.py).\n"
                f"LABEL_MEAN = {significant(profile.label_mean, 6)!r}\n"
                f"LABEL_STD = {significant(profile.label_std, 6)!r}")
    what = ("the model scores the second" if profile.task == "binary"
            else "the model's outputs follow this order")
    return (f"# The classes: a label's class id is its index here; {what}.\n"
            + _assign("LABEL_VALUES", profile.classes))


def _evaluation(profile: Profile) -> tuple[str, float]:
    """(the settings' evaluation block, the decay trigger's max_drop)."""
    lines = [f"    metric: {METRIC[profile.task]}"]
    if profile.task == "binary":
        lines[0] += "  # the model scores one probability per row: a binary task"
        lines += ["    # A modest floor (0.5 is a coin toss) and, against the last blessed model,",
                  "    # no more than the drop a small evaluation split shows between runs.",
                  "    lower_bound: 0.6", "    max_regression: 0.02"]
        return "\n".join(lines), 0.05
    if profile.task == "multiclass":
        share = profile.majority_share
        lines[0] += "  # one probability per class: a multi-class task"
        lines += [f"    # More than the share of the most common class ({share:.3f}): better than "
                  "always",
                  "    # guessing it; and no more than a small drop from the last blessed model.",
                  f"    lower_bound: {min(round_down(share + 0.01), 0.99)}",
                  "    max_regression: 0.02"]
        return "\n".join(lines), 0.05
    std = profile.label_std
    lines[0] += "  # the model predicts a number: a regression task"
    lines += [f"    # The label's standard deviation ({significant(std)}), the error of always "
              "predicting",
              "    # the mean: a model must do better. max_regression: 2% of it.",
              f"    upper_bound: {significant(std, up=True)}",
              f"    max_regression: {significant(0.02 * std)}"]
    return "\n".join(lines), significant(0.05 * std)


def _data_settings(prepared: PreparedData, name: str) -> dict[str, str]:
    if prepared.copied:
        how = "copied" if prepared.source.suffix.lower() == ".csv" else "converted to CSV"
        return {"data_comment": f"The data `mlops new` read ({prepared.source.name}), {how} "
                                f"into the package; more CSV\n    # files with the same header "
                                f"may join it.",
                "data_root": f"pipelines/{name}/data", "input_pattern": '"*.csv"'}
    return {"data_comment": f"{prepared.source.name}, read where it is (too large to copy into "
                            f"the package).",
            "data_root": json.dumps(str(prepared.csv.parent)),
            "input_pattern": json.dumps(prepared.csv.name)}


def _steps(rows: int) -> dict[str, int]:
    train_rows = max(1, round(rows * 0.8))
    epochs_30 = math.ceil(30 * train_rows / BATCH_SIZE)
    return {"train_rows": train_rows, "train_steps": min(1000, max(100, epochs_30)),
            "eval_steps": min(150, max(5, math.ceil((rows - train_rows) / BATCH_SIZE))),
            "tuner_steps": min(200, max(50, epochs_30 // 5)),
            "test_steps": min(300, max(100, epochs_30 // 3))}


# ----------------------------------------------------------------------------- the files

def _fill(template: str, **values) -> str:
    return Template((TEMPLATES / template).read_text(encoding="utf-8")).substitute(values)


def package_files(profile: Profile, prepared: PreparedData,
                  name: str) -> tuple[dict[str, str], str]:
    """({path in the package: text}, the package test's text): the modules, settings.yaml
    and schema/schema.pbtxt, and tests/pipelines/test_<name>.py."""
    from google.protobuf import text_format

    task = profile.task
    rows = _rows(profile, prepared)
    description = (f"{TASKS[task].capitalize()} of '{profile.label}' from {prepared.source.name} "
                   f"(written by `mlops new`).")
    evaluation, max_drop = _evaluation(profile)
    excluded = {c.name: c.reason for c in profile.columns if c.kind == EXCLUDED}
    classify = task != "regression"
    files = {
        "__init__.py": _fill("__init__.py.tmpl", name=name, description=description),
        "features.py": _fill(
            "features.py.tmpl", name=name, source=prepared.source.name, label=profile.label,
            label_constants=_label_constants(profile),
            numeric=literal(profile.names(NUMERIC), 0, 23),
            categorical=literal(profile.names(CATEGORICAL), 0, 27),
            hashed=literal(profile.names(HASHED), 0, 22), hash_buckets=HASH_BUCKETS,
            excluded=literal(excluded, 0, 24), example=literal(_example(profile, rows), 0, 19)),
        "preprocessing.py": _fill(
            "preprocessing.py.tmpl", name=name, label_function=CLASS_INDEX if classify else "",
            label_output="_class_index(label)" if classify else "tf.cast(label, tf.float32)"),
        "model.py": _fill("model.py.tmpl", name=name, **MODEL[task]),
        "pipeline.py": _fill("pipeline.py.tmpl", name=name, task=task,
                             task_comment=TASK_COMMENT[task]),
        "settings.yaml": _fill("settings.yaml.tmpl", name=name, evaluation=evaluation,
                               decay_metric=METRIC[task], decay_max_drop=max_drop,
                               **_data_settings(prepared, name), **_steps(profile.rows)),
        "schema/schema.pbtxt": text_format.MessageToString(profile.schema),
    }
    tests = [NUMERIC_TEST] if profile.names(NUMERIC) else []
    tests += [CATEGORY_TEST] if profile.names(CATEGORICAL) or profile.names(HASHED) else []
    tests += [CLASS_TEST if classify else NUMBER_TEST]
    test = _fill("test_pipeline.py.tmpl", name=name, rows=literal(rows, 0, 7),
                 more_tests="\n\n" + "\n\n\n".join(tests))
    return files, test


def write_package(profile: Profile, prepared: PreparedData, name: str, package_dir: Path) -> str:
    """Write the package's files into `package_dir`; returns the text of its test."""
    files, test = package_files(profile, prepared, name)
    for relative, text in files.items():
        path = package_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return test
