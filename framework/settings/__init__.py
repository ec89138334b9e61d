"""Settings: one validated model of everything that varies by environment.

`load_settings(pipeline, env)` reads `pipelines/<name>/settings.yaml` (a `base` block plus
one block per environment), merges them key by key, applies `MLOPS_*` variables on top and
validates the result against `framework.settings.model.Settings`.
"""

from framework.settings.loader import ENVIRONMENTS, load_settings, settings_from_dict
from framework.settings.model import Settings

__all__ = ["ENVIRONMENTS", "Settings", "load_settings", "settings_from_dict"]
