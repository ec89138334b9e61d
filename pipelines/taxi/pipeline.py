"""The taxi pipeline: the factory the framework calls with resolved settings.

ExampleGen -> StatisticsGen -> ExampleValidator (against the curated schema) ->
ValidationGate -> Transform -> [Tuner] -> Trainer -> Evaluator (vs. latest blessed) -> Pusher.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
SCHEMA_DIR = HERE / "schema"

METRIC_CLASSES = {
    "binary_accuracy": "BinaryAccuracy",
    "auc": "AUC",
    "precision": "Precision",
    "recall": "Recall",
}


def _eval_config(settings):
    import tensorflow_model_analysis as tfma

    ev = settings.evaluation
    class_name = METRIC_CLASSES.get(ev.metric)
    if class_name is None:
        from framework.errors import SettingsError

        raise SettingsError(
            f"{settings.source}: key 'evaluation.metric': expected one of "
            f"{', '.join(METRIC_CLASSES)}, got {ev.metric!r}"
        )
    threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": ev.lower_bound}),
        # Ignored on the first run, when there is no blessed baseline yet.
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": -ev.max_regression},
        ),
    )
    others = [tfma.MetricConfig(class_name=c) for c in ("ExampleCount", "AUC", "BinaryAccuracy")
              if c != class_name]
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name="from_examples",
                label_key="tips_xf",
                preprocessing_function_names=["transform_features"],
            )
        ],
        slicing_specs=[tfma.SlicingSpec()]
        + [tfma.SlicingSpec(feature_keys=[key]) for key in ev.slices],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[tfma.MetricConfig(class_name=class_name, threshold=threshold), *others]
            )
        ],
    )


def create_pipeline(settings):
    """The TFX pipeline for these settings; which runner runs it is not its concern."""
    from tfx import v1 as tfx

    from framework.components.arrow_csv_example_gen import ArrowCsvExampleGen
    from framework.components.atomic_pusher import AtomicPusher
    from framework.components.validation_gate import ValidationGate
    from framework.pipeline_support import (
        baseline_model,
        import_schema,
        make_pipeline,
        module_file,
        span_range_config,
        span_window_examples,
    )

    training = settings.training
    # CsvExampleGen's spec and splits with a C++ CSV reader (framework/components/
    # arrow_csv_example_gen.py); the node keeps CsvExampleGen's name.
    example_gen = ArrowCsvExampleGen(
        input_base=settings.pipeline.data_root,
        input_config=tfx.proto.Input(
            splits=[tfx.proto.Input.Split(name="single", pattern=settings.pipeline.input_pattern)]
        ),
        output_config=tfx.proto.Output(
            split_config=tfx.proto.SplitConfig(
                splits=[
                    tfx.proto.SplitConfig.Split(name="train", hash_buckets=4),
                    tfx.proto.SplitConfig.Split(name="eval", hash_buckets=1),
                ]
            )
        ),
        range_config=span_range_config(settings),
    ).with_id("CsvExampleGen")
    # The examples Transform and Trainer learn from: this run's span, or a window of spans.
    train_examples, window_nodes = span_window_examples(settings, example_gen)
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema = import_schema(settings, SCHEMA_DIR / "schema.pbtxt")
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema.outputs["schema"]
    )
    gate = ValidationGate(anomalies=example_validator.outputs["anomalies"])

    transform = tfx.components.Transform(
        examples=train_examples,
        schema=schema.outputs["schema"],
        module_file=module_file(settings, HERE / "preprocessing.py"),
        # Transform's own TFDV passes would repeat StatisticsGen's raw statistics and add
        # statistics of the transformed data that nothing here reads: ~25% of its time.
        disable_statistics=True,
        # The Trainer applies the Transform graph to the rows it reads (model.py _input_fn):
        # writing every transformed row was most of Transform's time at scale.
        materialize=False,
    )
    transform.add_upstream_node(gate)

    model_config = {
        "hidden_units": training.hidden_units,
        "learning_rate": training.learning_rate,
        "batch_size": training.batch_size,
    }
    components = [example_gen, *window_nodes, statistics_gen, schema, example_validator, gate,
                  transform]
    trainer_args = {}
    if training.tuner.enabled:
        tuner = tfx.components.Tuner(
            module_file=module_file(settings, HERE / "model.py"),
            examples=train_examples,
            transform_graph=transform.outputs["transform_graph"],
            train_args=tfx.proto.TrainArgs(num_steps=training.tuner.train_steps),
            eval_args=tfx.proto.EvalArgs(num_steps=training.eval_steps),
            custom_config={"model": model_config, "max_trials": training.tuner.max_trials},
        )
        components.append(tuner)
        trainer_args["hyperparameters"] = tuner.outputs["best_hyperparameters"]

    trainer = tfx.components.Trainer(
        module_file=module_file(settings, HERE / "model.py"),
        examples=train_examples,
        transform_graph=transform.outputs["transform_graph"],
        schema=schema.outputs["schema"],
        train_args=tfx.proto.TrainArgs(num_steps=training.train_steps),
        eval_args=tfx.proto.EvalArgs(num_steps=training.eval_steps),
        custom_config={"model": model_config},
        **trainer_args,
    )
    baseline = baseline_model(settings, candidate=trainer.outputs["model"])
    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=baseline.outputs["model"] if baseline else None,
        eval_config=_eval_config(settings),
    )
    pusher = AtomicPusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(
                base_directory=settings.pipeline.serving_dir
            )
        ),
    )
    components += [trainer, *([baseline] if baseline else []), evaluator, pusher]
    return make_pipeline(settings, components)
