"""The Evaluator's extractors, less what no metric or slice reads.

TFMA splits each batch into one Python dict per example before slicing and metrics. That
split copies every raw feature, every transformed feature and the serialized example, one
value at a time: with the taxi data, 36 values per example, of which the metrics and the
slices read four (label, prediction, the slice column, the weight). Dropping the others
just before the split leaves the metrics and the blessing unchanged and the split cheaper.

The TFX Evaluator loads this module by its Python path (``module_path``) and calls
``custom_extractors``; it is imported in every runner, container or not, because the
framework is installed wherever a pipeline runs.
"""

from __future__ import annotations

from collections.abc import Mapping

# What TFMA calls its extracts (tensorflow_model_analysis.constants).
_FEATURES, _TRANSFORMED, _INPUT = "features", "transformed_features", "input"


def read_features(eval_config) -> frozenset[str]:
    """The feature names the evaluation reads after the split: slice columns and the
    query key of ranking metrics. Labels, predictions and weights are extracted before
    the split, under keys of their own."""
    names = set()
    specs = list(eval_config.slicing_specs)
    for cross in eval_config.cross_slicing_specs:
        specs += [cross.baseline_spec, *cross.slicing_specs]
    for spec in specs:
        names.update(spec.feature_keys)
        names.update(spec.feature_values)
    names.update(m.query_key for m in eval_config.metrics_specs if m.query_key)
    return frozenset(names)


def keep_only(extracts: Mapping, features: frozenset[str]) -> dict:
    """A batch of extracts without the serialized examples and without features outside
    `features`; transformed features may be nested one level by model name."""
    lean = {k: v for k, v in extracts.items() if k != _INPUT}
    if isinstance(lean.get(_FEATURES), Mapping):
        lean[_FEATURES] = _only(lean[_FEATURES], features)
    transformed = lean.get(_TRANSFORMED)
    if isinstance(transformed, Mapping):
        lean[_TRANSFORMED] = {
            k: _only(v, features) if isinstance(v, Mapping) else v
            for k, v in transformed.items() if isinstance(v, Mapping) or k in features}
    return lean


def _only(values: Mapping, names: frozenset[str]) -> dict:
    return {k: v for k, v in values.items() if k in names}


def custom_extractors(eval_shared_model, eval_config, tensor_adapter_config):
    """TFMA's default extractors, with `keep_only` right before the per-example split.

    The signature is the one TFX's Evaluator executor calls (keywords, these three)."""
    import apache_beam as beam
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.extractors import unbatch_extractor

    extractors = tfma.default_extractors(eval_shared_model=eval_shared_model,
                                         eval_config=eval_config,
                                         tensor_adapter_config=tensor_adapter_config)
    names = [e.stage_name for e in extractors]
    split_at = names.index(unbatch_extractor.UNBATCH_EXTRACTOR_STAGE_NAME)
    features = read_features(eval_config)
    drop = tfma.extractors.Extractor(
        stage_name="DropWhatNoMetricOrSliceReads",
        ptransform=beam.Map(keep_only, features=features))
    return [*extractors[:split_at], drop, *extractors[split_at:]]
