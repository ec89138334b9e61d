"""The taxi pipeline: the factory the framework calls with resolved settings.

ExampleGen -> StatisticsGen -> ExampleValidator (against the curated schema) ->
ValidationGate -> Transform -> [Tuner] -> Trainer -> Evaluator (vs. latest blessed) -> Pusher.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCHEMA_DIR = HERE / "schema"
# model.py scores one probability per trip (tips above 20% of the fare, or not).
TASK = "binary"


@dataclass
class _Inputs:
    """What the data steps hand to training: the channels and the nodes made so far."""

    example_gen: object
    train_examples: object  # this run's span, or a window of spans
    schema: object
    gate: object
    nodes: list = field(default_factory=list)


def _inputs_and_validation(settings) -> _Inputs:
    """ExampleGen (+ span window) -> StatisticsGen -> ExampleValidator -> ValidationGate."""
    from tfx import v1 as tfx

    from framework.components.arrow_csv_example_gen import ArrowCsvExampleGen
    from framework.components.validation_gate import ValidationGate
    from framework.pipeline.pipeline_support import import_schema, span_range_config, span_window_examples

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
    train_examples, window_nodes = span_window_examples(settings, example_gen)
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema = import_schema(settings, SCHEMA_DIR / "schema.pbtxt")
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema.outputs["schema"]
    )
    gate = ValidationGate(anomalies=example_validator.outputs["anomalies"])
    return _Inputs(example_gen, train_examples, schema, gate,
                   [example_gen, *window_nodes, statistics_gen, schema, example_validator, gate])


def _transform(settings, inputs: _Inputs):
    from tfx import v1 as tfx

    from framework.pipeline.pipeline_support import module_file

    transform = tfx.components.Transform(
        examples=inputs.train_examples,
        schema=inputs.schema.outputs["schema"],
        module_file=module_file(settings, HERE / "preprocessing.py"),
        # Transform's own TFDV passes would repeat StatisticsGen's raw statistics and add
        # statistics of the transformed data that nothing here reads: ~25% of its time.
        disable_statistics=True,
        # The Trainer applies the Transform graph to the rows it reads (model.py _input_fn):
        # writing every transformed row was most of Transform's time at scale.
        materialize=False,
    )
    transform.add_upstream_node(inputs.gate)
    return transform


def _model_config(settings) -> dict:
    training = settings.training
    return {"hidden_units": training.hidden_units, "learning_rate": training.learning_rate,
            "batch_size": training.batch_size}


def _tuner(settings, inputs: _Inputs, transform):
    """The Tuner, or None when training.tuner is off."""
    training = settings.training
    if not training.tuner.enabled:
        return None
    from tfx import v1 as tfx

    from framework.pipeline.pipeline_support import module_file

    return tfx.components.Tuner(
        module_file=module_file(settings, HERE / "model.py"),
        examples=inputs.train_examples,
        transform_graph=transform.outputs["transform_graph"],
        train_args=tfx.proto.TrainArgs(num_steps=training.tuner.train_steps),
        eval_args=tfx.proto.EvalArgs(num_steps=training.eval_steps),
        custom_config={"model": _model_config(settings),
                       "max_trials": training.tuner.max_trials},
    )


def _trainer(settings, inputs: _Inputs, transform, tuner):
    from tfx import v1 as tfx

    from framework.pipeline.pipeline_support import module_file

    training = settings.training
    tuned = {"hyperparameters": tuner.outputs["best_hyperparameters"]} if tuner else {}
    return tfx.components.Trainer(
        module_file=module_file(settings, HERE / "model.py"),
        examples=inputs.train_examples,
        transform_graph=transform.outputs["transform_graph"],
        schema=inputs.schema.outputs["schema"],
        train_args=tfx.proto.TrainArgs(num_steps=training.train_steps),
        eval_args=tfx.proto.EvalArgs(num_steps=training.eval_steps),
        custom_config={"model": _model_config(settings)},
        **tuned,
    )


def _evaluation_and_push(settings, inputs: _Inputs, trainer) -> list:
    """[baseline resolver], Evaluator (blessing from evaluation.*) and Pusher."""
    from tfx import v1 as tfx

    from framework.components import lean_evaluation
    from framework.components.atomic_pusher import AtomicPusher
    from framework.pipeline.pipeline_support import baseline_model, eval_config

    baseline = baseline_model(settings, candidate=trainer.outputs["model"])
    evaluator = tfx.components.Evaluator(
        examples=inputs.example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=baseline.outputs["model"] if baseline else None,
        eval_config=eval_config(settings, task=TASK, label_key="tips_xf",
                                schema_file=SCHEMA_DIR / "schema.pbtxt",
                                signature_name="from_examples",
                                preprocessing_function_names=("transform_features",)),
        # TFMA's extractors, less the features no metric or slice reads (faster, same metrics).
        module_path=lean_evaluation.__name__,
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
    return [*([baseline] if baseline else []), evaluator, pusher]


def create_pipeline(settings):
    """The TFX pipeline for these settings; which runner runs it is not its concern."""
    from framework.pipeline.pipeline_support import make_pipeline

    inputs = _inputs_and_validation(settings)
    transform = _transform(settings, inputs)
    tuner = _tuner(settings, inputs, transform)
    trainer = _trainer(settings, inputs, transform, tuner)
    components = [*inputs.nodes, transform, *([tuner] if tuner else []), trainer,
                  *_evaluation_and_push(settings, inputs, trainer)]
    return make_pipeline(settings, components)
