"""A searcher that hands out a list of configurations made in advance, in order.

Random and grid search over a space with `when:` conditions, and a warm-started random
search (the earlier best first), run from a list the platform makes (search/space/domains.py
`conditional_variants`, search/tuning/warm_start.py). Ray's variant generator takes preset
configurations only as values laid over its own param space: a key a configuration
leaves out (an inactive dimension) would be sampled there instead of keeping the base
config's value, and it warns about every preset value that differs from a fixed one.
This searcher's suggestions are merged into the base config as they are, like Optuna's.
"""

from __future__ import annotations

import copy
import pickle
from typing import Any

from ray.tune.search import Searcher


class ListedConfigs(Searcher):
    def __init__(self, configs: list[dict[str, Any]], metric: str, mode: str):
        super().__init__(metric=metric, mode=mode)
        self.configs = [copy.deepcopy(config) for config in configs]
        self.handed_out = 0

    def suggest(self, trial_id: str) -> dict | str:
        if self.handed_out >= len(self.configs):
            return Searcher.FINISHED
        config = self.configs[self.handed_out]
        self.handed_out += 1
        return copy.deepcopy(config)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        pass  # nothing to learn: the list is fixed

    # Tune saves the searcher with the search's state: a resumed search hands out the rest.
    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as handle:
            pickle.dump({"configs": self.configs, "handed_out": self.handed_out}, handle)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as handle:
            state = pickle.load(handle)
        self.configs, self.handed_out = state["configs"], state["handed_out"]
