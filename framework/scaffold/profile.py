"""What `mlops new` decides from the statistics of a table: the task and each column's kind.

The statistics and the first schema are TFDV's, as StatisticsGen and SchemaGen compute them:
`generate_statistics_from_csv` reads the file as ExampleGen does (an integer, else a float,
else a string; an empty cell is a missing value). TFDV counts the distinct values of strings;
a second pass counts those of integers (marked categorical in a schema for it), and a third
those of a float label.

- numeric: floats, and integers with more than MAX_INT_CATEGORIES distinct values; scaled to
  z-scores, a gap filled with the mean;
- categorical: strings with at most MAX_STRING_CATEGORIES distinct values, integers with at
  most MAX_INT_CATEGORIES; a vocabulary, one-hot, a gap a category of its own;
- hashed: other strings; HASH_BUCKETS hash buckets, one-hot;
- excluded: --exclude, --id, a different value in every row (strings, integers), one value in
  every row, no value at all, free text; not used, DEPRECATED in the schema.

The task: a string label, or a numeric one with at most MAX_INT_CATEGORIES distinct values, is
classified (binary with two classes, multi-class with more); any other numeric label is
predicted as a number (regression). `--task` decides instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from framework.core.errors import UserError
from framework.scaffold.data import PreparedData

# Strings with at most this many distinct values are categories (a vocabulary); more are
# hashed. Integers with at most MAX_INT_CATEGORIES distinct values are codes (a vocabulary),
# more are numbers.
MAX_STRING_CATEGORIES = 50
MAX_INT_CATEGORIES = 20
# A classification label has at most this many classes.
MAX_CLASSES = 100
# Buckets a high-cardinality string is hashed into.
HASH_BUCKETS = 100
# Strings this long on average, most of them with spaces, are free text: not a feature here.
FREE_TEXT_LENGTH = 25

NUMERIC, CATEGORICAL, HASHED, EXCLUDED, LABEL = (
    "numeric", "categorical", "hashed", "excluded", "label")
USED = (NUMERIC, CATEGORICAL, HASHED)
TASKS = {"binary": "binary classification", "multiclass": "multi-class classification",
         "regression": "regression"}


@dataclass
class Facts:
    """One column's statistics, as the decisions read them."""

    name: str
    type: str  # INT, FLOAT or STRING (TFDV's names)
    present: int  # rows with a value
    distinct: int | None = None  # strings, integers, and a float label
    top: list[tuple[str, float]] = field(default_factory=list)  # (value, rows), most first
    avg_length: float = 0.0  # strings
    mean: float = 0.0
    std: float = 0.0
    min: float = 0.0
    max: float = 0.0
    max_values: int = 1  # values in one row, at most


@dataclass
class Column:
    name: str  # in the CSV file the pipeline reads
    kind: str
    reason: str
    source_name: str = ""  # in the user's file, when renamed

    @property
    def shown(self) -> str:
        return f"{self.name} ({self.source_name})" if self.source_name else self.name


@dataclass
class Profile:
    rows: int
    label: str
    task: str  # binary, multiclass or regression
    task_reason: str
    columns: list[Column]
    facts: dict[str, Facts]
    schema: object  # the curated tensorflow_metadata Schema
    classes: list = field(default_factory=list)  # classification: the label's values, in order
    majority_share: float | None = None  # classification: rows of the most common class
    label_mean: float | None = None  # regression
    label_std: float | None = None  # regression

    def names(self, kind: str) -> list[str]:
        return [c.name for c in self.columns if c.kind == kind and c.name in self.facts]


# ------------------------------------------------------------------------------ statistics

def _facts(feature) -> Facts:
    from tensorflow_metadata.proto.v0 import statistics_pb2

    kind = statistics_pb2.FeatureNameStatistics.Type.Name(feature.type)
    facts = Facts(name=feature.path.step[0] if feature.path.step else feature.name,
                  type="STRING" if kind == "BYTES" else kind, present=0)
    which = feature.WhichOneof("stats")
    common = getattr(feature, which).common_stats if which else None
    if common is not None:
        facts.present, facts.max_values = int(common.num_non_missing), int(common.max_num_values)
    if which == "num_stats":
        stats = feature.num_stats
        facts.mean, facts.std, facts.min, facts.max = stats.mean, stats.std_dev, stats.min, stats.max
    elif which == "string_stats":
        _add_counts(facts, feature)
        facts.avg_length = feature.string_stats.avg_length
    return facts


def _add_counts(facts: Facts, feature) -> None:
    stats = feature.string_stats
    facts.distinct = int(stats.unique)
    facts.top = [(v.value, v.frequency) for v in stats.top_values]


def _generate(csv: Path, **options):
    import tensorflow_data_validation as tfdv

    # All values of a label with up to MAX_CLASSES classes, most frequent first.
    stats_options = tfdv.StatsOptions(num_top_values=MAX_CLASSES + 1, **options)
    return tfdv.generate_statistics_from_csv(str(csv), stats_options=stats_options)


def _counted(csv: Path, schema, names: list[str], *, floats: bool):
    """Distinct values of `names` (integers, or floats), counted as categories by TFDV."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    counting = schema_pb2.Schema()
    counting.CopyFrom(schema)
    for feature in counting.feature:
        if feature.name in names:
            domain = feature.float_domain if floats else feature.int_domain
            domain.is_categorical = True
    # Float categories need TFDV's sketches (approximate counts; exact for few values).
    return _generate(csv, schema=counting, feature_allowlist=names,
                     use_sketch_based_topk_uniques=floats)


def statistics(csv: Path, labels: list[str]):
    """(rows, TFDV's inferred schema, {column: Facts}) of the CSV file; the distinct values
    of integer columns, and of the float ones among `labels` (the label, or candidates)."""
    import tensorflow_data_validation as tfdv

    stats = _generate(csv)
    schema = tfdv.infer_schema(stats)
    dataset = stats.datasets[0]
    rows = int(dataset.num_examples)
    facts = {f.name: f for f in (_facts(feature) for feature in dataset.features)}
    integers = [name for name, f in facts.items() if f.type == "INT"]
    floats = [name for name in labels if name in facts and facts[name].type == "FLOAT"]
    for names, are_floats in ((integers, False), (floats, True)):
        if names:
            for feature in _counted(csv, schema, names, floats=are_floats).datasets[0].features:
                _add_counts(facts[feature.path.step[0]], feature)
    return rows, schema, facts


# ------------------------------------------------------------------------------- decisions

def _value(text: str) -> str:
    return text if len(text) <= 20 else text[:17] + "..."


def _gaps(facts: Facts, rows: int, filled: str) -> str:
    missing = rows - facts.present
    return f"; {missing} missing, {filled}" if missing else ""


def feature_kind(facts: Facts, rows: int) -> tuple[str, str]:
    """(kind, reason) of a column that is neither the label nor excluded by the user."""
    if facts.present == 0:
        return EXCLUDED, "no value in any row"
    if facts.max_values > 1:
        return EXCLUDED, "lists of values: the generated model takes one value per row"
    if facts.type == "FLOAT":
        if facts.min == facts.max:
            return EXCLUDED, f"the same value ({facts.min:g}) in every row"
        return NUMERIC, f"numbers{_gaps(facts, rows, 'filled with the mean')}"
    if facts.distinct == 1:
        return EXCLUDED, f"the same value ({_value(facts.top[0][0])}) in every row"
    spaced = sum(" " in value for value, _ in facts.top)
    if facts.type == "STRING" and facts.avg_length >= FREE_TEXT_LENGTH and \
            spaced * 2 >= len(facts.top):
        return EXCLUDED, (f"free text ({facts.avg_length:.0f} characters on average): it needs "
                          f"a text model")
    if facts.distinct == rows:
        hint = " (a measurement? move it to NUMERIC_FEATURE_KEYS)" if facts.type == "INT" else ""
        return EXCLUDED, f"a different value in every row: an identifier{hint}"
    if facts.type == "INT":
        if facts.distinct <= MAX_INT_CATEGORIES:
            return CATEGORICAL, (f"{facts.distinct} distinct integers (at most "
                                 f"{MAX_INT_CATEGORIES}): codes{_gaps(facts, rows, 'a code of their own')}")
        return NUMERIC, (f"integers, {facts.distinct} distinct (more than {MAX_INT_CATEGORIES})"
                         f"{_gaps(facts, rows, 'filled with the mean')}")
    gaps = _gaps(facts, rows, "a category of their own")
    if facts.distinct <= MAX_STRING_CATEGORIES:
        return CATEGORICAL, f"{facts.distinct} distinct strings (at most {MAX_STRING_CATEGORIES}){gaps}"
    return HASHED, (f"{facts.distinct} distinct strings (more than {MAX_STRING_CATEGORIES}): "
                    f"{HASH_BUCKETS} hash buckets{gaps}")


def _class_value(facts: Facts, text: str):
    return {"INT": int, "FLOAT": float}.get(facts.type, str)(text)


def label_task(facts: Facts, rows: int, requested: str | None) -> tuple[str, str, list]:
    """(task, reason, classes) for the label column; UserError when it cannot be predicted."""
    name = facts.name
    if facts.present < rows:
        raise UserError(f"label column '{name}' is empty in {rows - facts.present} of {rows} "
                        f"rows: remove those rows or fill them in")
    if facts.distinct == 1 or (facts.type == "FLOAT" and facts.min == facts.max):
        value = facts.top[0][0] if facts.top else f"{facts.min:g}"
        raise UserError(f"label column '{name}' has one value ({_value(value)}) in every row: "
                        f"there is nothing to predict")
    if requested == "regression" and facts.type == "STRING":
        raise UserError(f"--task regression needs a numeric label; '{name}' holds strings")
    classify = requested == "classification" or (
        requested is None and (facts.type == "STRING" or facts.distinct <= MAX_INT_CATEGORIES))
    if not classify:
        why = "--task regression" if requested else (
            f"a number with {facts.distinct} distinct values (more than {MAX_INT_CATEGORIES}; "
            f"--task classification to predict them as classes)" if facts.distinct
            else "a float (--task classification to predict its values as classes)")
        return "regression", f"'{name}' is {why}", []
    if facts.distinct > MAX_CLASSES:
        raise UserError(f"label column '{name}' has {facts.distinct} distinct values: too many "
                        f"classes (at most {MAX_CLASSES}); --task regression predicts a number")
    classes = sorted(_class_value(facts, value) for value, _ in facts.top)
    task = "binary" if len(classes) == 2 else "multiclass"
    shown = ", ".join(_value(str(c)) for c in classes[:10]) + (", ..." if len(classes) > 10 else "")
    why = "--task classification" if requested else (
        "strings" if facts.type == "STRING" else f"at most {MAX_INT_CATEGORIES} distinct values")
    scored = f"; the model scores {_value(str(classes[1]))}" if task == "binary" else ""
    return task, f"{len(classes)} classes of '{name}' ({shown}; {why}){scored}", classes


def resolve_columns(prepared: PreparedData, label: str, exclude: list[str],
                    id_column: str | None) -> tuple[str, list[str], str | None]:
    """The label, --exclude and --id columns by their names in the CSV file (the user may
    give a column's name in their file, or the renamed one)."""
    names = {**{c: c for c in prepared.columns}, **prepared.renamed}

    def find(name: str, what: str) -> str:
        if name in names:
            return names[name]
        if name in prepared.dropped:
            raise UserError(f"{what} '{name}' of {prepared.source} cannot be used: "
                            f"{prepared.dropped[name]}")
        shown = ", ".join(_source_names(prepared))
        raise UserError(f"no column '{name}' in {prepared.source} ({what}; its columns: {shown})")

    found_label = find(label, "--label")
    excluded = [find(name, "--exclude") for name in exclude]
    found_id = find(id_column, "--id") if id_column else None
    if found_label in excluded or found_label == found_id:
        raise UserError(f"column '{label}' is the label: it cannot also be excluded or the id")
    return found_label, excluded, found_id


def _source_names(prepared: PreparedData) -> list[str]:
    back = {new: old for old, new in prepared.renamed.items()}
    return [back.get(c, c) for c in prepared.columns]


def decide(prepared: PreparedData, facts: dict[str, Facts], rows: int, *, label: str,
           task: str | None = None, exclude: list[str] = (), id_column: str | None = None):
    """(task, task reason, classes, [Column]) for every column of the source, in order."""
    if label not in facts:  # a column TFDV saw no value of at all
        raise UserError(f"label column '{label}' has no value in any row")
    found_task, task_reason, classes = label_task(facts[label], rows, task)
    back = {new: old for old, new in prepared.renamed.items()}
    columns = []
    for name in prepared.columns:
        if name == label:
            kind, reason = LABEL, "the label (--label)"
        elif name in exclude:
            kind, reason = EXCLUDED, "excluded with --exclude"
        elif name == id_column:
            kind, reason = EXCLUDED, "the row identifier (--id)"
        elif name not in facts:
            kind, reason = EXCLUDED, "no value in any row"
        else:
            kind, reason = feature_kind(facts[name], rows)
        columns.append(Column(name, kind, reason, back.get(name, "")))
    columns += [Column(name, EXCLUDED, why, "") for name, why in prepared.dropped.items()]
    if not any(c.kind in USED for c in columns):
        dropped = "; ".join(f"{c.shown}: {c.reason}" for c in columns if c.kind != LABEL)
        raise UserError(f"no usable feature in {prepared.source} besides the label "
                        f"'{back.get(label, label)}': {dropped or 'it has no other column'}")
    return found_task, task_reason, classes, columns


# ---------------------------------------------------------------------------------- schema

def curate(schema, columns: list[Column], facts: dict[str, Facts], task: str):
    """TFDV's inferred schema, curated as a person would for this pipeline.

    Features the model does not use are DEPRECATED (the data may keep them; nothing checks
    them); numbers may not be NaN or infinite; integer codes and integer classes keep the
    range seen; strings that are hashed keep no domain (new values are expected); the label
    is not in the SERVING environment (prediction requests do not send it).
    """
    from tensorflow_metadata.proto.v0 import schema_pb2

    curated = schema_pb2.Schema()
    curated.CopyFrom(schema)
    kinds = {c.name: c.kind for c in columns}
    for feature in curated.feature:
        kind, fact = kinds.get(feature.name, EXCLUDED), facts.get(feature.name)
        if kind in (EXCLUDED, HASHED) or (kind == LABEL and task == "regression"):
            feature.ClearField("domain")
        if kind == EXCLUDED:
            feature.lifecycle_stage = schema_pb2.LifecycleStage.DEPRECATED
            continue
        if feature.HasField("value_count"):
            # ExampleGen writes an empty cell as the feature with no value (TFDV's reading
            # of the CSV file counted it missing): zero values or one.
            feature.value_count.ClearField("min")
        if feature.type == schema_pb2.FLOAT:
            feature.float_domain.disallow_nan = True
            feature.float_domain.disallow_inf = True
        coded = kind == CATEGORICAL or (kind == LABEL and task != "regression")
        if feature.type == schema_pb2.INT and coded and fact is not None and fact.top:
            values = [int(v) for v, _ in fact.top]
            if len(values) == fact.distinct:  # every value is known: the range is exact
                feature.int_domain.min, feature.int_domain.max = min(values), max(values)
        if kind == LABEL:
            feature.not_in_environment.append("SERVING")
    curated.default_environment.extend(["TRAINING", "SERVING"])
    used = {f.domain for f in curated.feature if f.domain}
    kept = [d for d in curated.string_domain if d.name in used]
    del curated.string_domain[:]
    curated.string_domain.extend(kept)
    return curated


def profile(prepared: PreparedData, *, label: str, task: str | None = None,
            exclude: list[str] = (), id_column: str | None = None) -> Profile:
    """Statistics of the prepared CSV file, the decisions, and the curated schema.

    `label`, `exclude` and `id_column` are CSV names (see `resolve_columns`).
    """
    rows, schema, facts = statistics(prepared.csv, [label])
    found_task, reason, classes, columns = decide(prepared, facts, rows, label=label, task=task,
                                                  exclude=list(exclude), id_column=id_column)
    result = Profile(rows=rows, label=label, task=found_task, task_reason=reason,
                     columns=columns, facts=facts,
                     schema=curate(schema, columns, facts, found_task), classes=classes)
    label_facts = facts[label]
    if found_task == "regression":
        result.label_mean, result.label_std = label_facts.mean, label_facts.std
    else:
        result.majority_share = max(count for _, count in label_facts.top) / rows
    return result


def round_down(value: float, digits: int = 2) -> float:
    scale = 10 ** digits
    return math.floor(value * scale) / scale


def significant(value: float, digits: int = 3, *, up: bool = False) -> float:
    """`value` to `digits` significant digits (rounded up with `up`)."""
    if value == 0:
        return 0.0
    scale = 10 ** (digits - 1 - math.floor(math.log10(abs(value))))
    return float(f"{(math.ceil if up else round)(value * scale) / scale:.{digits}g}")
