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

from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
    LatestBlessedModelStrategy,
)


class LatestBlessedOtherModelStrategy(LatestBlessedModelStrategy):
    """Inputs: `model`, `model_blessing` (all of them) and `candidate` (this run's model)."""

    def resolve_artifacts(self, store, input_dict):
        candidates = list(input_dict.get("candidate", []))
        candidate_ids = {artifact.id for artifact in candidates}
        others = {
            "model": [m for m in input_dict["model"] if m.id not in candidate_ids],
            "model_blessing": list(input_dict["model_blessing"]),
        }
        # TFX's own pick: the newest model with a blessing that says blessed.
        result = self._resolve(others, "model", "model_blessing")
        result["candidate"] = candidates
        return result
