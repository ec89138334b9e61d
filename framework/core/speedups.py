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
6. TFMA's metric combiners turn every example into (label, prediction, weight) through a
   general function, once per example, slice and combiner; for a one-number label and score
   without weights the answer is fixed, and making it directly took the Evaluator's TFMA
   pipeline from 97 s to 60 s on 100,000 taxi rows (framework/core/tfma_label_pairs.py,
   which checks its first answers in each process against TFMA's).

Each one patches private code of the pinned versions, so each checks, before it touches
anything, that the installed version is one it was written for (WRITTEN_FOR) and that what
it patches is still there; otherwise it leaves everything as it is and says why, once, at
debug level. `MLOPS_SPEEDUPS=0` turns all of them off, including those `mlops` applies at
start before any settings are read; the `speedups: false` setting turns them off for runs
(by setting that variable for the rest of the process).
None of them changes what a pipeline computes (tests/integration/test_speedups_same_output.py).
"""

from __future__ import annotations

import atexit
import functools
import gc
import importlib
import importlib.metadata
import inspect
import logging
import os
import platform
import re
import sys
import types
from contextlib import contextmanager

log = logging.getLogger(__name__)

SWITCH = "MLOPS_SPEEDUPS"
# The values that turn the work-arounds off: those YAML reads as false, and 0, as the
# settings loader reads the same variable.
OFF = {"0", "false", "no", "off"}

# The versions each work-around was written and measured against: (what it patches, lowest
# version, first version past the range). An upgrade out of a range turns that work-around
# off until someone has checked it against the new version and widened the range here.
WRITTEN_FOR = {
    "memoise_distribution_scan": ("google-api-core", (2, 28), (2, 30)),
    "skip_autograph_of_tf_keras": ("tensorflow", (2, 16), (2, 17)),
    "call_signatures_by_keyword": ("tensorflow", (2, 16), (2, 17)),
    "defer_tfx_cloud_extensions": ("tfx", (1, 16), (1, 17)),
    "collector_paused": ("CPython", (3, 11), (3, 12)),
    "skip_collection_at_exit": ("CPython", (3, 11), (3, 12)),
    "pair_tfma_labels_directly": ("tensorflow-model-analysis", (0, 47), (0, 48)),
}

_told: set[str] = set()  # work-arounds whose absence has been logged (once per process)


def switched_on(settings=None) -> bool:
    """False when MLOPS_SPEEDUPS says off, or when the settings' `speedups` key does."""
    if os.environ.get(SWITCH, "").strip().lower() in OFF:
        return False
    return getattr(settings, "speedups", True) is not False


@functools.lru_cache(maxsize=None)  # what is installed does not change while a process runs
def installed_version(distribution: str) -> str | None:
    if distribution == "CPython":
        return platform.python_version() if platform.python_implementation() == "CPython" else None
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _release(version: str) -> tuple[int, ...]:
    """'2.16.2' -> (2, 16, 2); '2.30.0rc1' -> (2, 30, 0)."""
    numbers = []
    for piece in version.split("."):
        digits = re.match(r"\d+", piece)
        if not digits:
            break
        numbers.append(int(digits.group()))
    return tuple(numbers)


def _skip(name: str, why: str) -> bool:
    if name not in _told:
        _told.add(name)
        log.debug("speedup %s not applied: %s", name, why)
    return False


def _allowed(name: str) -> bool:
    """Switched on, and the installed version of what `name` patches is one it was written for."""
    if not switched_on():
        return _skip(name, f"{SWITCH}={os.environ.get(SWITCH)}")
    distribution, low, high = WRITTEN_FOR[name]
    version = installed_version(distribution)
    if version is None or not low <= _release(version) < high:
        wanted = f"{'.'.join(map(str, low))} up to (not including) {'.'.join(map(str, high))}"
        return _skip(name, f"written for {distribution} {wanted}, found {version or 'none'}")
    return True


def _has(name: str, owner, *attributes: str) -> bool:
    """True when `owner` still has every attribute the work-around `name` patches or uses."""
    missing = [a for a in attributes if not hasattr(owner, a)]
    if missing:
        where = getattr(owner, "__name__", type(owner).__name__)
        return _skip(name, f"{where} has no {', '.join(missing)}")
    return True


def memoise_distribution_scan() -> bool:
    """Memoise packages_distributions(); safe to call more than once. True when in place."""
    if not (_allowed("memoise_distribution_scan")
            and _has("memoise_distribution_scan", importlib.metadata, "packages_distributions")):
        return False
    current = importlib.metadata.packages_distributions
    if getattr(current, "_mlops_memoised", False):
        return True
    memoised = functools.lru_cache(maxsize=1)(current)
    memoised._mlops_memoised = True
    importlib.metadata.packages_distributions = memoised
    return True


def skip_autograph_of_tf_keras() -> bool:
    """Tell AutoGraph not to convert tf_keras' code; imports TensorFlow. True when applied."""
    name = "skip_autograph_of_tf_keras"
    if not _allowed(name):
        return False
    try:
        from tensorflow.python.autograph.core import config
    except ImportError:  # a TensorFlow without this private module: leave it as it is
        return _skip(name, "no tensorflow.python.autograph.core.config")
    if not _has(name, config, "CONVERSION_RULES", "DoNotConvert"):
        return False
    rule = config.DoNotConvert("tf_keras")
    if getattr(rule, "_prefix", None) != "tf_keras":  # how an added rule is found again
        return _skip(name, "DoNotConvert keeps no _prefix")
    rules = tuple(config.CONVERSION_RULES)
    if not any(getattr(r, "_prefix", None) == "tf_keras" for r in rules):
        config.CONVERSION_RULES = (rule, *rules)
    return True


@contextmanager
def collector_paused():
    """Pause garbage collection while heavy, long-lived modules are imported, then freeze them.

    Only the first time in a process: once a heap is frozen (a second run in a `ct watch`
    process, nested use) it is left as it is, so garbage made later is never frozen with it.
    """
    if not (_allowed("collector_paused")
            and _has("collector_paused", gc, "freeze", "get_freeze_count")
            and gc.isenabled() and not gc.get_freeze_count()):
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def skip_collection_at_exit() -> bool:
    """Freeze the heap at interpreter exit: the OS frees it; collecting it first costs seconds."""
    if not (_allowed("skip_collection_at_exit")
            and _has("skip_collection_at_exit", gc, "freeze")):
        return False
    if not getattr(skip_collection_at_exit, "_registered", False):
        atexit.register(gc.freeze)
        skip_collection_at_exit._registered = True
    return True


EXTENSIONS = "tfx.v1.extensions"


class _DeferredModule(types.ModuleType):
    """Stands in for a package until one of its attributes is asked for, then imports it."""

    def __getattr__(self, attribute):
        return getattr(self._load(), attribute)

    def _load(self):
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        real = importlib.import_module(self.__name__)
        parent, _, leaf = self.__name__.rpartition(".")
        if parent in sys.modules:
            setattr(sys.modules[parent], leaf, real)
        self.__dict__.update(real.__dict__)  # references to the stand-in see the real package
        return real


def defer_tfx_cloud_extensions() -> bool:
    """Import `tfx.v1.extensions` on first use instead of with `tfx.v1`. True when deferred."""
    import importlib.util
    from pathlib import Path

    name = "defer_tfx_cloud_extensions"
    if not _allowed(name) or EXTENSIONS in sys.modules or "tfx.v1" in sys.modules:
        return False
    spec = importlib.util.find_spec("tfx")  # finds tfx without importing it
    folder = Path(list(spec.submodule_search_locations)[0]) / "v1" / "extensions" if spec else None
    if folder is None or not (folder / "__init__.py").is_file():
        return _skip(name, "no tfx/v1/extensions package")
    stand_in = _DeferredModule(EXTENSIONS)
    stand_in.__spec__ = importlib.util.spec_from_file_location(
        EXTENSIONS, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    stand_in.__path__ = [str(folder)]
    stand_in.__file__ = str(folder / "__init__.py")
    sys.modules[EXTENSIONS] = stand_in
    return True


def _signature_target(name: str):
    """ConcreteFunction when its call path is still the one the work-around was written for."""
    try:
        from tensorflow.python.eager.polymorphic_function import concrete_function
    except ImportError:
        return _skip(name, "no tensorflow.python.eager.polymorphic_function.concrete_function")
    cls = getattr(concrete_function, "ConcreteFunction", None)
    if cls is None:
        return _skip(name, "no ConcreteFunction")
    if not _has(name, cls, "_call_impl", "_call_with_flat_signature", "function_type"):
        return None
    parameters = list(inspect.signature(cls._call_impl).parameters)
    if parameters != ["self", "args", "kwargs"]:
        return _skip(name, f"ConcreteFunction._call_impl takes {parameters}")
    return cls


def call_signatures_by_keyword() -> bool:
    """Pass positional arguments to keyword-only signature functions as TF's fallback would.

    Imports TensorFlow. True when applied (once per process).
    """
    name = "call_signatures_by_keyword"
    cls = _signature_target(name) if _allowed(name) else None
    if not cls:
        return False
    if getattr(cls._call_impl, "_mlops_by_keyword", False):
        return True
    original = cls._call_impl

    def _call_impl(self, args, kwargs):
        keywords = getattr(self, "_arg_keywords", None)
        positional = getattr(self, "_num_positional_args", None) or 0
        if args and not kwargs and keywords and len(args) <= min(len(keywords), positional):
            parameters = getattr(self.function_type, "parameters", None) or {}
            if parameters and all(p.kind == p.KEYWORD_ONLY for p in parameters.values()):
                return original(self, (), dict(zip(keywords, args)))
        return original(self, args, kwargs)

    _call_impl._mlops_by_keyword = True
    cls._call_impl = _call_impl
    return True


def pair_tfma_labels_directly() -> bool:
    """Give TFMA's binary metrics their label pairs directly (framework/core/
    tfma_label_pairs.py). True when in place.

    Only once the pipeline has imported TFMA (an EvalConfig is built from it): a pipeline
    without an Evaluator does not pay seconds of import for it.
    """
    name = "pair_tfma_labels_directly"
    if not _allowed(name) or "tensorflow_model_analysis" not in sys.modules:
        return False
    try:
        from tensorflow_model_analysis.metrics import binary_confusion_matrices, metric_util
    except ImportError:
        return _skip(name, "no tensorflow_model_analysis.metrics")
    if not (_has(name, metric_util, "to_label_prediction_example_weight")
            and _has(name, binary_confusion_matrices, "binary_confusion_matrices",
                     "_binary_confusion_matrix_computation")):
        return False
    from framework.core import tfma_label_pairs

    return tfma_label_pairs.apply()


def take_back_process_speedups() -> None:
    """Undo what `mlops` applied at start, before it had read the settings that say no."""
    scan = importlib.metadata.packages_distributions
    if getattr(scan, "_mlops_memoised", False):
        importlib.metadata.packages_distributions = scan.__wrapped__
    stand_in = sys.modules.get(EXTENSIONS)
    if isinstance(stand_in, _DeferredModule):
        if "tfx.v1" in sys.modules:
            stand_in._load()  # tfx.v1 holds the stand-in: import what it stands for now
        else:
            del sys.modules[EXTENSIONS]  # tfx.v1 will import it itself
    if getattr(skip_collection_at_exit, "_registered", False):
        atexit.unregister(gc.freeze)
        skip_collection_at_exit._registered = False


def at_cli_start() -> None:
    """What `mlops` applies before any settings are read (so only MLOPS_SPEEDUPS stops it)."""
    memoise_distribution_scan()
    defer_tfx_cloud_extensions()
    skip_collection_at_exit()


@contextmanager
def building(settings):
    """Around importing a pipeline's module and building the pipeline from `settings`."""
    if not switched_on(settings):
        _skip("all", f"switched off by the speedups setting or {SWITCH}")
        # As the variable, for the rest of this process and what it starts: user modules
        # call work-arounds themselves (the taxi Trainer module), and the container runner
        # passes MLOPS_* on.
        os.environ[SWITCH] = "0"
        take_back_process_speedups()
        yield
        return
    memoise_distribution_scan()  # before the pipeline module imports tfx.v1
    defer_tfx_cloud_extensions()
    with collector_paused():
        yield


@contextmanager
def running_here(settings):
    """Around compiling a run whose components then execute in this process."""
    if not switched_on(settings):
        yield
        return
    with collector_paused():  # imports and compile: no garbage worth a heap scan
        skip_autograph_of_tf_keras()  # the Trainer fits tf_keras models here
        call_signatures_by_keyword()  # the Evaluator calls signatures (TFMA)
        yield
        pair_tfma_labels_directly()  # its metrics; once the build has imported TFMA
