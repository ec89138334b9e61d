"""What a pipeline factory needs from the framework, so it never asks where it runs.

- `beam_args(settings)`: Beam arguments for DirectRunner, DataflowRunner, or a portable
  runner (PortableRunner, FlinkRunner, SparkRunner).
- `module_file(settings, path)`: a user module's path as the executor will see it
  (the checkout on a laptop, the image's workdir on container, Kubeflow and Vertex).
- `make_pipeline(settings, components)`: the tfx.dsl.Pipeline with name, root, caching and
  Beam arguments from settings. The runner adds the ML-Metadata connection.
"""

from __future__ import annotations

import os
from pathlib import Path

from framework.settings.model import PORTABLE_RUNNERS

IMAGE_RUNNERS = ("container", "kubeflow", "vertex")


def beam_args(settings) -> list[str]:
    beam = settings.beam
    if beam.runner == "DirectRunner":
        # Only what differs from Beam's defaults (DirectRunner, in_memory, one worker): with
        # the defaults spelled out, CsvExampleGen and StatisticsGen took 3-10 s longer on
        # the 15k-row sample (measured A/B with benchmarks/run.py); nothing else changed.
        args = []
        if beam.direct_running_mode != "in_memory" or beam.direct_num_workers:
            workers = beam.direct_num_workers or (os.cpu_count() or 1)
            args += [f"--direct_running_mode={beam.direct_running_mode}",
                     f"--direct_num_workers={workers}"]
        return args + list(beam.extra_args)
    if beam.runner in PORTABLE_RUNNERS:
        return portable_args(settings) + list(beam.extra_args)
    flow = settings.dataflow
    args = ["--runner=DataflowRunner"]
    pairs = {
        "project": flow.project,
        "region": flow.region,
        "temp_location": flow.temp_location,
        "staging_location": flow.staging_location,
        "machine_type": flow.machine_type,
        "max_num_workers": flow.max_num_workers,
        "autoscaling_algorithm": flow.autoscaling_algorithm,
        "service_account_email": flow.service_account_email,
        "setup_file": flow.setup_file,
    }
    image = flow.sdk_container_image
    if image is None and not flow.setup_file:
        image = _pipeline_image(settings)  # the workers run the image with the user code
    pairs["sdk_container_image"] = image
    args += [f"--{k}={v}" for k, v in pairs.items() if v is not None]
    if image:
        args.append("--experiments=use_runner_v2")
    return args + list(beam.extra_args)


def _pipeline_image(settings) -> str | None:
    if settings.image.repository and settings.image.tag:
        return f"{settings.image.repository}:{settings.image.tag}"
    return None


def portable_args(settings) -> list[str]:
    """Beam arguments for PortableRunner, FlinkRunner and SparkRunner (see beam.portable)."""
    beam, portable = settings.beam, settings.beam.portable
    pairs: dict[str, object] = {"runner": beam.runner}
    if beam.runner == "PortableRunner":
        pairs["job_endpoint"] = portable.job_endpoint
    if beam.runner == "FlinkRunner":
        pairs.update(flink_master=beam.flink.master, flink_version=beam.flink.version,
                     parallelism=beam.flink.parallelism or None)
    if beam.runner == "SparkRunner":
        pairs["spark_master_url"] = beam.spark.master_url
    config = portable.environment_config
    if config is None and portable.environment_type == "DOCKER":
        config = _pipeline_image(settings)  # the workers run the image with the user code
    pairs.update(artifact_endpoint=portable.artifact_endpoint,
                 environment_type=portable.environment_type, environment_config=config,
                 sdk_worker_parallelism=portable.sdk_worker_parallelism or None,
                 job_server_timeout=portable.job_server_timeout)
    return [f"--{k}={v}" for k, v in pairs.items() if v is not None]


def module_file(settings, path: str | os.PathLike) -> str:
    """Where the executor finds the user module at `path` (a file in the checkout)."""
    from framework.pipeline.discovery import project_root

    path = Path(path).resolve()
    if settings.runner not in IMAGE_RUNNERS:
        return str(path)
    try:
        relative = path.relative_to(project_root())
    except ValueError:
        return str(path)  # outside the project: the pre-flight check reports it
    return f"{settings.image.workdir.rstrip('/')}/{relative.as_posix()}"


def import_schema(settings, schema_file: str | os.PathLike):
    """The curated schema file as a Schema artifact (output key "schema"), cached by content."""
    import hashlib

    from framework.components.curated_schema import CuratedSchema

    fingerprint = hashlib.sha256(Path(schema_file).read_bytes()).hexdigest()[:16]
    return CuratedSchema(
        schema_file=module_file(settings, schema_file), fingerprint=fingerprint
    ).with_id("schema_importer")


# Runners whose launcher runs a custom ResolverStrategy (Kubeflow V2 compiles only TFX's own).
IN_PROCESS_RUNNERS = ("local", "container")


def baseline_model(settings, candidate=None):
    """The latest blessed model as the Evaluator's baseline, or None when settings say not to.

    Open-source Kubeflow Pipelines does not execute resolver nodes, so environments that
    deploy there set evaluation.compare_to_blessed: false (the value threshold still holds).
    Given the Trainer's `candidate` channel, runners that resolve in-process (local,
    container) leave the candidate itself out, so an unchanged re-run stays fully cached
    (see framework/components/baseline_strategy.py).
    """
    if not settings.evaluation.compare_to_blessed:
        return None
    from tfx import v1 as tfx

    channels = {
        "model": tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        "model_blessing": tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    }
    strategy = tfx.dsl.experimental.LatestBlessedModelStrategy
    if candidate is not None and settings.runner in IN_PROCESS_RUNNERS:
        from framework.components.baseline_strategy import LatestBlessedOtherModelStrategy

        strategy = LatestBlessedOtherModelStrategy
        channels["candidate"] = candidate
    return tfx.dsl.Resolver(strategy_class=strategy, **channels).with_id(
        "latest_blessed_model_resolver"
    )


def make_pipeline(settings, components: list):
    from tfx import v1 as tfx

    return tfx.dsl.Pipeline(
        pipeline_name=settings.pipeline.name,
        pipeline_root=settings.pipeline.pipeline_root,
        components=components,
        enable_cache=settings.enable_cache,
        beam_pipeline_args=beam_args(settings),
    )


def span_range_config(settings):
    """CsvExampleGen's range_config: the newest span when the input pattern has {SPAN}.

    ExampleGen ingests one span per run (TFX rejects a RollingRange of more than one span
    there); a window of several spans is built downstream by `span_window_examples`.
    """
    if "{SPAN}" not in settings.pipeline.input_pattern:
        return None
    from tfx import v1 as tfx

    return tfx.proto.RangeConfig(rolling_range=tfx.proto.RollingRange(num_spans=1))


def span_window_examples(settings, example_gen):
    """(examples channel to train on, extra nodes): the newest `span_window` spans.

    With a window, a SpanRangeStrategy resolver picks the newest N span artifacts that
    ExampleGen produced in this and earlier runs (from ML-Metadata); without one, training
    uses what this run's ExampleGen read.
    """
    window = settings.pipeline.span_window
    if window <= 0 or "{SPAN}" not in settings.pipeline.input_pattern:
        return example_gen.outputs["examples"], []
    from tfx import v1 as tfx

    resolver = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.SpanRangeStrategy,
        config={"range_config": tfx.proto.RangeConfig(
            rolling_range=tfx.proto.RollingRange(num_spans=window))},
        examples=tfx.dsl.Channel(
            type=tfx.types.standard_artifacts.Examples, producer_component_id=example_gen.id),
    ).with_id("span_window_resolver")
    # Resolve only after this run's ExampleGen registered the newest span.
    resolver.add_upstream_node(example_gen)
    return resolver.outputs["examples"], [resolver]


# --------------------------------------------------------------------------- the Evaluator

# Metrics the Evaluator can judge a model by, per model task:
# {setting name: (TFMA/Keras metric class, higher is better)}. The setting name is also the
# name TFMA records, so lineage and the decay trigger find the same metric again.
EVAL_METRICS = {
    "binary": {
        "binary_accuracy": ("BinaryAccuracy", True),
        "auc": ("AUC", True),
        "precision": ("Precision", True),
        "recall": ("Recall", True),
    },
    "multiclass": {
        "sparse_categorical_accuracy": ("SparseCategoricalAccuracy", True),
        "sparse_categorical_crossentropy": ("SparseCategoricalCrossentropy", False),
    },
    "regression": {
        "root_mean_squared_error": ("RootMeanSquaredError", False),
        "mean_absolute_error": ("MeanAbsoluteError", False),
        "mean_squared_error": ("MeanSquaredError", False),
    },
}
# Recorded besides the blessing metric, so lineage and `ct.decay` have them to compare.
ALSO_RECORDED = {
    "binary": ("ExampleCount", "AUC", "BinaryAccuracy"),
    "multiclass": ("ExampleCount", "SparseCategoricalAccuracy"),
    "regression": ("ExampleCount", "RootMeanSquaredError", "MeanAbsoluteError"),
}


def check_evaluation(settings, task: str, schema_file: str | os.PathLike) -> tuple[str, bool]:
    """(metric class, higher is better) for evaluation.*, or SettingsError naming the key.

    Runs when the pipeline is built, so a metric the model's task cannot have, or a slice
    column the data lacks (TFMA would slice on nothing, silently), stops the run before
    any component starts.
    """
    from framework.core.errors import SettingsError
    from framework.pipeline.discovery import shown

    if task not in EVAL_METRICS:
        raise ValueError(f"task must be one of {', '.join(EVAL_METRICS)}, got {task!r}")
    ev, known = settings.evaluation, EVAL_METRICS[task]
    if ev.metric not in known:
        got = "nothing is set" if ev.metric is None else f"got {ev.metric!r}"
        raise SettingsError(f"{settings.source}: key 'evaluation.metric': a {task} model is "
                            f"judged by one of {', '.join(known)}; {got}")
    columns = _schema_feature_names(schema_file)
    missing = [s for s in ev.slices if s not in columns]
    if missing:
        raise SettingsError(f"{settings.source}: key 'evaluation.slices': no column "
                            f"{', '.join(missing)} in the pipeline's schema ({shown(schema_file)})")
    return known[ev.metric]


def _schema_feature_names(schema_file: str | os.PathLike) -> set[str]:
    from framework.pipeline.schema_tools import parse_schema_file

    return {f.name for f in parse_schema_file(schema_file).feature}


def eval_config(settings, *, task: str, label_key: str, schema_file: str | os.PathLike,
                signature_name: str = "serving_default",
                preprocessing_function_names: tuple[str, ...] = ()):
    """The Evaluator's EvalConfig from evaluation.*: overall metrics plus one slice per
    evaluation.slices column, the blessing threshold on evaluation.metric."""
    import tensorflow_model_analysis as tfma

    class_name, higher = check_evaluation(settings, task, schema_file)
    ev = settings.evaluation
    bounds = {k: {"value": v} for k, v in (("lower_bound", ev.lower_bound),
                                           ("upper_bound", ev.upper_bound)) if v is not None}
    threshold = tfma.MetricThreshold(
        # Ignored on the first run, when there is no blessed baseline yet.
        change_threshold=tfma.GenericChangeThreshold(
            direction=(tfma.MetricDirection.HIGHER_IS_BETTER if higher
                       else tfma.MetricDirection.LOWER_IS_BETTER),
            absolute={"value": -ev.max_regression if higher else ev.max_regression},
        ),
    )
    if bounds:
        threshold.value_threshold.CopyFrom(tfma.GenericValueThreshold(**bounds))
    others = [tfma.MetricConfig(class_name=c) for c in ALSO_RECORDED[task] if c != class_name]
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name=signature_name, label_key=label_key,
                                    preprocessing_function_names=list(
                                        preprocessing_function_names))],
        slicing_specs=[tfma.SlicingSpec()]
        + [tfma.SlicingSpec(feature_keys=[key]) for key in ev.slices],
        metrics_specs=[tfma.MetricsSpec(
            metrics=[tfma.MetricConfig(class_name=class_name, threshold=threshold), *others])],
    )
