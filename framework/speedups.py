"""Work-arounds for slow spots in the pinned dependencies and in CPython (found by profiling runs).

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
3. CPython's cyclic garbage collector re-scans the whole heap as it grows; importing
   TensorFlow, TFX, Beam and TFMA builds a heap of ~0.8M objects that lives as long as the
   process. The collections made while importing cost ~2 s per run, and the last one, at
   interpreter exit, walked that heap for another ~3-4 s after the run had printed its result.
   The collector is paused while the pipeline is imported and built, that settled heap is
   then frozen (`gc.freeze`: left out of later collections), and it is frozen again at exit.
4. `import tfx.v1` imports `tfx.v1.extensions`, and with it google-cloud-aiplatform: 1.7 s
   of every run, though only pipelines that use the Google Cloud components need it. That
   package is registered as a stand-in that imports the real one on first use.
5. Signatures loaded from a SavedModel take keyword arguments only; TFMA calls them with
   one positional argument. TensorFlow then fails to bind, builds a TypeError whose message
   prints every input tensor (a batch of up to 1,000 serialized examples through numpy's
   array printer), drops it and calls the function by its flat signature, which maps the
   positional arguments to the keywords in order. That message was 7 % of the Evaluator's
   time. Such calls are now given as keywords in that same order to begin with.
"""

from __future__ import annotations

import atexit
import functools
import gc
import importlib
import importlib.metadata
import sys
import types
from contextlib import contextmanager


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


@contextmanager
def collector_paused():
    """Pause garbage collection while heavy, long-lived modules are imported, then freeze them.

    Only the first time in a process: once a heap is frozen (a second run in a `ct watch`
    process, nested use) it is left as it is, so garbage made later is never frozen with it.
    """
    if not gc.isenabled() or gc.get_freeze_count():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def skip_collection_at_exit() -> None:
    """Freeze the heap at interpreter exit: the OS frees it; collecting it first costs seconds."""
    if not getattr(skip_collection_at_exit, "_registered", False):
        atexit.register(gc.freeze)
        skip_collection_at_exit._registered = True


EXTENSIONS = "tfx.v1.extensions"


class _DeferredModule(types.ModuleType):
    """Stands in for a package until one of its attributes is asked for, then imports it."""

    def __getattr__(self, attribute):
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        real = importlib.import_module(self.__name__)
        parent, _, leaf = self.__name__.rpartition(".")
        if parent in sys.modules:
            setattr(sys.modules[parent], leaf, real)
        self.__dict__.update(real.__dict__)  # references to the stand-in see the real package
        return getattr(real, attribute)


def defer_tfx_cloud_extensions() -> bool:
    """Import `tfx.v1.extensions` on first use instead of with `tfx.v1`. True when deferred."""
    import importlib.util
    from pathlib import Path

    if EXTENSIONS in sys.modules or "tfx.v1" in sys.modules:
        return False
    spec = importlib.util.find_spec("tfx")  # finds tfx without importing it
    folder = Path(list(spec.submodule_search_locations)[0]) / "v1" / "extensions" if spec else None
    if folder is None or not (folder / "__init__.py").is_file():
        return False
    stand_in = _DeferredModule(EXTENSIONS)
    stand_in.__spec__ = importlib.util.spec_from_file_location(
        EXTENSIONS, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    stand_in.__path__ = [str(folder)]
    stand_in.__file__ = str(folder / "__init__.py")
    sys.modules[EXTENSIONS] = stand_in
    return True


def call_signatures_by_keyword() -> bool:
    """Pass positional arguments to keyword-only signature functions as TF's fallback would.

    Imports TensorFlow. True when applied (once per process).
    """
    try:
        from tensorflow.python.eager.polymorphic_function import concrete_function
    except ImportError:
        return False
    cls = concrete_function.ConcreteFunction
    if getattr(cls._call_impl, "_mlops_by_keyword", False):
        return True
    original = cls._call_impl

    def _call_impl(self, args, kwargs):
        keywords = self._arg_keywords
        if args and not kwargs and keywords and len(args) <= min(len(keywords),
                                                                 self._num_positional_args or 0):
            parameters = getattr(self.function_type, "parameters", None) or {}
            if parameters and all(p.kind == p.KEYWORD_ONLY for p in parameters.values()):
                return original(self, (), dict(zip(keywords, args)))
        return original(self, args, kwargs)

    _call_impl._mlops_by_keyword = True
    cls._call_impl = _call_impl
    return True
