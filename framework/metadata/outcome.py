"""What a finished run produced, read back from ML-Metadata: metrics, blessing, push."""

from __future__ import annotations

from typing import Optional


def evaluation_metrics(uri: str) -> dict[str, float]:
    """Overall-slice metrics of the candidate model from the Evaluator's output."""
    import tensorflow_model_analysis as tfma

    for model_name in ("candidate", None):
        try:
            result = tfma.load_eval_result(uri, model_name=model_name)
        except Exception:  # no such model in this result: try the next name
            continue
        metrics = {}
        for slice_key, by_output in result.slicing_metrics:
            if slice_key != ():
                continue
            flat = by_output.get("", {}).get("", {})
            for name, value in flat.items():
                number = value.get("doubleValue")
                if number is not None and "diff" not in name:
                    metrics[name] = float(number)
        if metrics:
            return metrics
    return {}


def read_outcome(settings, run_id: str) -> tuple[dict, Optional[bool], Optional[str]]:
    """(metrics, blessed, pushed model path) of run `run_id`."""
    from framework.metadata.store import open_store, output_artifacts, run_executions

    metrics: dict = {}
    blessed: Optional[bool] = None
    pushed: Optional[str] = None
    with open_store(settings) as store:
        for record in run_executions(store, settings.pipeline.name, run_id):
            if record.node == "Evaluator":
                for art in output_artifacts(store, record.execution_id, "ModelEvaluation"):
                    metrics = evaluation_metrics(art.uri)
                for art in output_artifacts(store, record.execution_id, "ModelBlessing"):
                    if "blessed" in art.custom_properties:
                        blessed = bool(art.custom_properties["blessed"].int_value)
            if record.node == "Pusher":
                for art in output_artifacts(store, record.execution_id, "PushedModel"):
                    if art.custom_properties.get("pushed") and art.custom_properties["pushed"].int_value:
                        pushed = art.custom_properties["pushed_destination"].string_value
    return metrics, blessed, pushed
