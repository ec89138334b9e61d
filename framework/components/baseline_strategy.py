"""The Evaluator's baseline: the latest blessed model other than the candidate itself.

TFX's LatestBlessedModelStrategy picks the newest blessed model, which after a run is the
model that run just blessed. An unchanged re-run then feeds the (cached) candidate to the
Evaluator as its own baseline: the inputs differ from the cold run's, so the Evaluator runs
again only to compare a model with itself, and Pusher follows. Leaving the candidate out
keeps an unchanged re-run fully cached; a newly trained model still meets the last blessed
one. Used by the runners that execute resolvers in-process (local, container); Kubeflow V2 /
Vertex compile only TFX's own strategies, so they keep LatestBlessedModelStrategy.
"""

from __future__ import annotations

from tfx.dsl.components.common import resolver

# Custom properties the Evaluator writes on a ModelBlessing (tfx.components.evaluator.constants).
_CURRENT_MODEL_ID = "current_model_id"
_BLESSED = "blessed"


class LatestBlessedOtherModelStrategy(resolver.ResolverStrategy):
    """Inputs: `model`, `model_blessing` (all of them) and `candidate` (this run's model)."""

    def resolve_artifacts(self, store, input_dict):
        candidates = {artifact.id for artifact in input_dict.get("candidate", [])}
        blessed = {
            blessing.get_int_custom_property(_CURRENT_MODEL_ID): blessing
            for blessing in input_dict["model_blessing"]
            if blessing.get_int_custom_property(_BLESSED) == 1
        }
        result = {"model": [], "model_blessing": [],
                  "candidate": list(input_dict.get("candidate", []))}
        for model in sorted(input_dict["model"], key=lambda a: a.id, reverse=True):
            if model.id not in candidates and model.id in blessed:
                result["model"] = [model]
                result["model_blessing"] = [blessed[model.id]]
                break
        return result
