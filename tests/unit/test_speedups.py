"""framework/core/speedups.py: each work-around does what it says, and only once."""

import subprocess
import sys


def test_speedups_memoise_the_distribution_scan_and_skip_tf_keras_in_autograph():
    import importlib.metadata

    from framework.core import speedups

    speedups.memoise_distribution_scan()
    speedups.memoise_distribution_scan()  # twice: still one cache, not a cache of a cache
    scan = importlib.metadata.packages_distributions
    assert scan._mlops_memoised and not getattr(scan.__wrapped__, "_mlops_memoised", False)
    assert scan() is scan()
    assert speedups.skip_autograph_of_tf_keras() is True
    speedups.skip_autograph_of_tf_keras()
    from tensorflow.python.autograph.core import config

    prefixes = [rule._prefix for rule in config.CONVERSION_RULES]
    assert prefixes.count("tf_keras") == 1
    first = config.CONVERSION_RULES[0]
    assert isinstance(first, config.DoNotConvert)
    assert first.matches("tf_keras.src.engine.training") and not first.matches("tf_kerasx")


def test_collector_paused_disables_gc_inside_and_freezes_the_settled_heap_once():
    import gc

    from framework.core import speedups

    gc.unfreeze()  # as a fresh process: nothing frozen yet
    try:
        with speedups.collector_paused():
            assert not gc.isenabled()
        assert gc.isenabled() and gc.get_freeze_count() > 0
        frozen = gc.get_freeze_count()
        with speedups.collector_paused():  # a second run in the same process: left alone
            assert gc.isenabled()
        assert gc.get_freeze_count() == frozen
    finally:
        gc.enable()
        gc.unfreeze()


def test_skip_collection_at_exit_freezes_the_heap_before_the_final_collection():
    code = (
        "import atexit, gc\n"
        "atexit.register(lambda: print('frozen at exit:', gc.get_freeze_count() > 0))\n"
        "from framework.core import speedups\n"
        "speedups.skip_collection_at_exit(); speedups.skip_collection_at_exit()\n"
        "import atexit as a; print('handlers ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["handlers ok", "frozen at exit: True"]


def test_tfx_cloud_extensions_are_imported_on_first_use_not_with_tfx_v1():
    code = (
        "import sys\n"
        "from framework.core import speedups\n"
        "assert speedups.defer_tfx_cloud_extensions()\n"
        "from tfx import v1 as tfx\n"
        "print('after tfx.v1:', 'google.cloud.aiplatform' in sys.modules)\n"
        "trainer = tfx.extensions.google_cloud_ai_platform.Trainer\n"
        "print('after use:', 'google.cloud.aiplatform' in sys.modules, trainer.__name__)\n"
        "from tfx.v1.extensions.google_cloud_big_query import Pusher\n"
        "print('big query:', Pusher.__name__)\n"
        "print('deferred again:', speedups.defer_tfx_cloud_extensions())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines() == [
        "after tfx.v1: False", "after use: True Trainer", "big query: Pusher",
        "deferred again: False",
    ]


def test_positional_call_of_a_loaded_signature_binds_by_keyword_with_the_same_result(tmp_path):
    import pytest
    import tensorflow as tf
    from tensorflow.python.eager.polymorphic_function import concrete_function

    from framework.core import speedups

    module = tf.Module()
    module.double = tf.function(lambda examples: examples * 2.0, input_signature=[
        tf.TensorSpec([None], tf.float32, name="examples")])
    module.scaled = tf.function(lambda examples, scale: examples * scale, input_signature=[
        tf.TensorSpec([None], tf.float32, name="examples"), tf.TensorSpec([], tf.float32)])
    tf.saved_model.save(module, str(tmp_path), signatures={
        "double": module.double.get_concrete_function(),
        "scaled": module.scaled.get_concrete_function()})
    loaded = tf.saved_model.load(str(tmp_path)).signatures
    values = tf.constant([1.0, 2.0])
    before = loaded["double"](values)["output_0"].numpy().tolist()

    assert speedups.call_signatures_by_keyword() and speedups.call_signatures_by_keyword()
    flat = concrete_function.ConcreteFunction._call_with_flat_signature
    try:
        # TF's own path: structured binding fails, then this fallback. Now never reached.
        concrete_function.ConcreteFunction._call_with_flat_signature = None
        assert loaded["double"](values)["output_0"].numpy().tolist() == before == [2.0, 4.0]
        assert loaded["double"](examples=values)["output_0"].numpy().tolist() == before
    finally:
        concrete_function.ConcreteFunction._call_with_flat_signature = flat
    # Two inputs: TensorFlow takes keywords only, and still says so.
    with pytest.raises(TypeError, match="positional"):
        loaded["scaled"](values, tf.constant(3.0))
