"""preprocessing_fn for TFX Transform: scaling, vocabularies and buckets for the taxi data.

Transform loads this file on its own (a module file), as a top-level module: its neighbours
are imported by their full package name, which works there and keeps them apart from another
pipeline's modules of the same name (a relative import would have no package there).
"""

import tensorflow as tf
import tensorflow_transform as tft

from pipelines.taxi import features


def _dense(value, default):
    """A [batch] dense tensor from a dense or sparse [batch, 1] input, missing -> default."""
    if isinstance(value, tf.sparse.SparseTensor):
        value = tf.sparse.to_dense(
            tf.SparseTensor(value.indices, value.values, [value.dense_shape[0], 1]),
            default_value=default,
        )
    value = tf.reshape(value, [-1])
    if value.dtype.is_floating:
        value = tf.where(tf.math.is_nan(value), tf.cast(default, value.dtype), value)
    return value


def _default_for(value):
    dtype = value.dtype
    if dtype == tf.string:
        return ""
    return tf.constant(0, dtype=dtype)


def preprocessing_fn(inputs):
    """Raw taxi features in, model-ready features and the big-tipper label out."""
    outputs = {}
    for key in features.DENSE_FLOAT_FEATURE_KEYS:
        value = tf.cast(_dense(inputs[key], _default_for(inputs[key])), tf.float32)
        outputs[features.transformed_name(key)] = tft.scale_to_z_score(value)
    for key in features.VOCAB_FEATURE_KEYS:
        outputs[features.transformed_name(key)] = tft.compute_and_apply_vocabulary(
            _dense(inputs[key], ""), top_k=features.VOCAB_SIZE, num_oov_buckets=features.OOV_SIZE
        )
    for key in features.BUCKET_FEATURE_KEYS:
        value = tf.cast(_dense(inputs[key], _default_for(inputs[key])), tf.float32)
        outputs[features.transformed_name(key)] = tft.bucketize(value, features.BUCKET_COUNT)
    for key, max_value in features.CATEGORICAL_FEATURE_MAX_VALUES.items():
        value = tf.cast(_dense(inputs[key], _default_for(inputs[key])), tf.int64)
        outputs[features.transformed_name(key)] = tf.clip_by_value(value, 0, max_value)

    fare = tf.cast(_dense(inputs[features.FARE_KEY], tf.constant(float("nan"))), tf.float32)
    tips = tf.cast(_dense(inputs[features.LABEL_KEY], tf.constant(0.0)), tf.float32)
    outputs[features.transformed_name(features.LABEL_KEY)] = tf.where(
        tf.math.is_nan(fare),
        tf.zeros_like(fare, dtype=tf.int64),
        tf.cast(tips > fare * features.BIG_TIP_SHARE, tf.int64),
    )
    return outputs
