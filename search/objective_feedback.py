"""What Optuna is told when a trial of several objectives ends: its values at its best epoch.

Ray's OptunaSearch tells Optuna the values of a trial's last result. A trial is ranked (and
put on the Pareto front) by its representative epoch, its best by search.metric (see
search/front.py); an early-stopped trial's last epoch is worse than that. This wrapper,
between the searcher and the platform's NoRepeats, keeps each trial's representative
result as results come and hands that one to the searcher at the trial's end, so Optuna's
multi-objective TPE learns from the same points the front is made of.
"""

from __future__ import annotations

from typing import Any

from ray.tune.search import Searcher

from search import record
from search.pareto import improves


class ObjectiveFeedback(Searcher):
    def __init__(self, searcher: Searcher, select_metric: str, select_mode: str):
        self.searcher = searcher
        self.select_metric, self.select_mode = select_metric, select_mode
        self.representative: dict[str, dict[str, Any]] = {}  # trial id -> its best result so far
        super().__init__(metric=searcher.metric, mode=searcher.mode)

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return self.searcher.set_search_properties(metric, mode, config, **spec)

    def suggest(self, trial_id: str) -> dict | None:
        return self.searcher.suggest(trial_id)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        value = result.get(self.select_metric)
        kept = self.representative.get(trial_id)
        if record.is_number(value) and (kept is None or improves(value, kept[self.select_metric], self.select_mode)):
            self.representative[trial_id] = dict(result)
        self.searcher.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        kept = self.representative.pop(trial_id, None)
        if result is not None and kept is not None and not error:
            result = kept
        self.searcher.on_trial_complete(trial_id, result=result, error=error)

    # Tune saves each wrapper's state apart from the searcher it wraps (it follows `.searcher`).
    def get_state(self) -> dict:
        return {"representative": {trial: dict(result) for trial, result in self.representative.items()}}

    def set_state(self, state: dict) -> None:
        self.representative = dict(state["representative"])
