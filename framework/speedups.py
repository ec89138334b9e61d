"""Work-arounds for two slow spots in the pinned dependencies (found by profiling runs).

1. google-api-core 2.28+ calls `importlib.metadata.packages_distributions()` (a scan of every
   installed distribution, ~1 s here) once per Google Cloud package it sees imported, and
   `tfx.v1` imports about fifteen of them through google-cloud-aiplatform: ~16 s on every run
   (googleapis/python-api-core#878). The upstream fix needs protobuf 6, which TFX 1.16 cannot
   use, so the scan is memoised for the life of the process: installed distributions do not
   change while a pipeline runs.
2. AutoGraph leaves Keras' own code alone (`DoNotConvert('keras')` in its conversion rules),
   but Keras 2 now lives in the `tf_keras` package, which that rule does not match: every
   tf.function over a Keras 2 model re-writes tf_keras' layers and training loop. The
   taxi Trainer's first `fit` spent ~26 of its ~29 s there. Adding the same rule for
   `tf_keras` restores what Keras 2 always had.
"""

from __future__ import annotations

import functools
import importlib.metadata


def memoise_distribution_scan() -> None:
    """Memoise packages_distributions(); safe to call more than once."""
    current = importlib.metadata.packages_distributions
    if getattr(current, "_mlops_memoised", False):
        return
    memoised = functools.lru_cache(maxsize=1)(current)
    memoised._mlops_memoised = True
    importlib.metadata.packages_distributions = memoised


def skip_autograph_of_tf_keras() -> bool:
    """Tell AutoGraph not to convert tf_keras' code; imports TensorFlow. True when applied."""
    try:
        from tensorflow.python.autograph.core import config
    except ImportError:  # a TensorFlow without this private module: leave it as it is
        return False
    rules = tuple(config.CONVERSION_RULES)
    if not any(getattr(rule, "_prefix", None) == "tf_keras" for rule in rules):
        config.CONVERSION_RULES = (config.DoNotConvert("tf_keras"), *rules)
    return True
