"""Trainer and Tuner module for the taxi pipeline: a wide-and-deep Keras classifier.

Hyperparameters come from settings through the Trainer's custom_config (see pipeline.py),
or from the Tuner's best hyperparameters when tuning is switched on.

Trainer and Tuner load this file on its own (a module file), as a top-level module: its
neighbours are imported by their full package name (see preprocessing.py).
"""

import os

# TF 2.16 defaults to Keras 3; TF Transform's layer and TFMA need Keras 2 (tf_keras).
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tensorflow as tf  # noqa: E402
import tensorflow_transform as tft  # noqa: E402
from tfx_bsl.public import tfxio  # noqa: E402

from pipelines.taxi import features  # noqa: E402

try:  # on every runner the Trainer runs on, Keras 2 tracing ~8x faster (framework/core/speedups.py)
    from framework.core.speedups import skip_autograph_of_tf_keras
except ImportError:  # the module used without the framework installed
    pass
else:
    skip_autograph_of_tf_keras()

LABEL = features.transformed_name(features.LABEL_KEY)
DEFAULTS = {"hidden_units": [32, 16], "learning_rate": 0.001, "batch_size": 64}


def _input_fn(file_pattern, data_accessor, tf_transform_output, batch_size):
    """(transformed features, label) batches made from raw examples by the Transform graph.

    Transform does not materialize transformed examples (pipeline.py): the Trainer reads
    only train_steps * batch_size rows, so applying the graph here costs far less than
    transforming and writing every row of every split.
    """
    transform_layer = tf_transform_output.transform_features_layer()

    def transform(raw):
        transformed = transform_layer(raw)
        return transformed, transformed.pop(LABEL)

    raw = data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size),
        tf_transform_output.raw_metadata.schema,
    )
    return raw.map(transform, num_parallel_calls=tf.data.AUTOTUNE).repeat()


def build_keras_model(hidden_units, learning_rate):
    """Deep part over scaled numbers, wide part over one-hot categories."""
    dense_keys = [features.transformed_name(k) for k in features.DENSE_FLOAT_FEATURE_KEYS]
    categorical_sizes = {
        **{features.transformed_name(k): features.VOCAB_SIZE + features.OOV_SIZE
           for k in features.VOCAB_FEATURE_KEYS},
        **{features.transformed_name(k): features.BUCKET_COUNT
           for k in features.BUCKET_FEATURE_KEYS},
        **{features.transformed_name(k): size + 1
           for k, size in features.CATEGORICAL_FEATURE_MAX_VALUES.items()},
    }
    inputs = {k: tf.keras.layers.Input(name=k, shape=(1,), dtype=tf.float32) for k in dense_keys}
    inputs.update(
        {k: tf.keras.layers.Input(name=k, shape=(1,), dtype=tf.int32) for k in categorical_sizes}
    )
    deep = tf.keras.layers.concatenate([inputs[k] for k in dense_keys])
    for units in hidden_units:
        deep = tf.keras.layers.Dense(units, activation="relu")(deep)
    wide = tf.keras.layers.concatenate(
        [
            tf.keras.layers.CategoryEncoding(num_tokens=size, output_mode="one_hot")(inputs[k])
            for k, size in categorical_sizes.items()
        ]
    )
    output = tf.keras.layers.Dense(1, activation="sigmoid")(
        tf.keras.layers.concatenate([deep, wide])
    )
    model = tf.keras.Model(inputs, output)
    model.compile(
        loss="binary_crossentropy",
        optimizer=tf.keras.optimizers.Adam(learning_rate=learning_rate),
        metrics=[tf.keras.metrics.BinaryAccuracy()],
    )
    return model


def _raw_serving_spec(tf_transform_output):
    spec = tf_transform_output.raw_feature_spec()
    spec.pop(features.LABEL_KEY, None)
    return spec


def _signatures(model, tf_transform_output):
    """serving_default takes raw features by name (one value per example, REST-friendly);
    from_examples takes serialized tf.Examples (used by the Evaluator);
    transform_features gives the Evaluator the transformed label."""
    model.tft_layer = tf_transform_output.transform_features_layer()
    raw_spec = _raw_serving_spec(tf_transform_output)

    @tf.function(input_signature=[
        {k: tf.TensorSpec(shape=[None], dtype=v.dtype, name=k) for k, v in raw_spec.items()}
    ])
    def serve_raw(raw):
        batch = tf.shape(next(iter(raw.values())), out_type=tf.int64)[0]
        indices = tf.stack([tf.range(batch), tf.zeros([batch], tf.int64)], axis=1)
        parsed = {}
        for key, value in raw.items():
            if isinstance(raw_spec[key], tf.io.VarLenFeature):
                parsed[key] = tf.SparseTensor(indices, value, tf.stack([batch, 1]))
            else:
                parsed[key] = tf.reshape(value, [-1, *raw_spec[key].shape])
        return {"outputs": model(model.tft_layer(parsed))}

    @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="examples")])
    def serve_examples(serialized):
        parsed = tf.io.parse_example(serialized, raw_spec)
        return {"outputs": model(model.tft_layer(parsed))}

    @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="examples")])
    def transform_features(serialized):
        parsed = tf.io.parse_example(serialized, tf_transform_output.raw_feature_spec())
        return model.tft_layer(parsed)

    return {
        "serving_default": serve_raw.get_concrete_function(),
        "from_examples": serve_examples.get_concrete_function(),
        "transform_features": transform_features.get_concrete_function(),
    }


def _hyperparameters(fn_args):
    params = dict(DEFAULTS)
    params.update((fn_args.custom_config or {}).get("model", {}))
    if fn_args.hyperparameters:  # from the Tuner
        import keras_tuner

        best = keras_tuner.HyperParameters.from_config(fn_args.hyperparameters)
        params["hidden_units"] = [best.get("units")] * best.get("layers")
        params["learning_rate"] = best.get("learning_rate")
    return params


def run_fn(fn_args):
    """Train on raw examples through the Transform graph; save a model that serves raw features."""
    params = _hyperparameters(fn_args)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    train = _input_fn(fn_args.train_files, fn_args.data_accessor, tf_transform_output,
                      params["batch_size"])
    evaluation = _input_fn(fn_args.eval_files, fn_args.data_accessor, tf_transform_output,
                           params["batch_size"])
    model = build_keras_model(params["hidden_units"], params["learning_rate"])
    model.fit(
        train,
        steps_per_epoch=fn_args.train_steps,
        validation_data=evaluation,
        validation_steps=fn_args.eval_steps,
        verbose=0,
    )
    tf.saved_model.save(model, fn_args.serving_model_dir,
                        signatures=_signatures(model, tf_transform_output))


def tuner_fn(fn_args):
    """A small random search over depth, width and learning rate."""
    import keras_tuner
    from tfx.components.tuner.component import TunerFnResult

    params = dict(DEFAULTS)
    params.update((fn_args.custom_config or {}).get("model", {}))
    max_trials = (fn_args.custom_config or {}).get("max_trials", 3)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)

    def build(hp):
        units = hp.Choice("units", [16, 32, 64])
        layers = hp.Int("layers", 1, 3)
        learning_rate = hp.Choice("learning_rate", [1e-3, 3e-3, 1e-2])
        return build_keras_model([units] * layers, learning_rate)

    tuner = keras_tuner.RandomSearch(
        build, max_trials=max_trials, objective=keras_tuner.Objective("val_binary_accuracy", "max"),
        directory=fn_args.working_dir, project_name="taxi_tuning", overwrite=True,
    )
    train = _input_fn(fn_args.train_files, fn_args.data_accessor, tf_transform_output,
                      params["batch_size"])
    evaluation = _input_fn(fn_args.eval_files, fn_args.data_accessor, tf_transform_output,
                           params["batch_size"])
    return TunerFnResult(
        tuner=tuner,
        fit_kwargs={
            "x": train, "validation_data": evaluation, "verbose": 0,
            "steps_per_epoch": fn_args.train_steps, "validation_steps": fn_args.eval_steps,
        },
    )
