"""What Optuna is told when a trial ends: its values at its best epoch, and how far it was off
its constraints.

Ray's OptunaSearch tells Optuna the values of a trial's last result. With several objectives
a trial is ranked (and put on the Pareto front) by its representative epoch, its best by
search.metric (see search/tuning/front.py); an early-stopped trial's last epoch is worse than that.
This wrapper, between the searcher and the platform's NoRepeats, keeps each trial's
representative result as results come and hands that one to the searcher at the trial's
end, so Optuna's multi-objective TPE learns from the same points the front is made of.
(With one objective Optuna keeps being told the last result, as before.)

With search.constraints it sets, before that, each limit's violation at the same epoch on
the Optuna trial (Trial.set_constraint): Optuna's TPE ranks infeasible trials below every
feasible one, by how far they are off. A trial refused before it trained is told to Optuna
as pruned (it has no values) with its violations: TPE counts it among the infeasible ones.
"""

from __future__ import annotations

from typing import Any

from ray.tune.search import Searcher

from search import record
from search.space.constraints import INFEASIBLE_RESULT, parse_constraints, violations
from search.tuning.pareto import improves
from search.tuning.ray_internals import optuna_trial


class ObjectiveFeedback(Searcher):
    def __init__(self, searcher: Searcher, select_metric: str, select_mode: str, tell_representative: bool,
                 constraints: list[str] = ()):
        self.searcher = searcher
        self.select_metric, self.select_mode = select_metric, select_mode
        self.tell_representative = tell_representative
        self.constraints = parse_constraints(constraints)
        self.representative: dict[str, dict[str, Any]] = {}  # trial id -> its best result so far
        super().__init__(metric=searcher.metric, mode=searcher.mode)

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return self.searcher.set_search_properties(metric, mode, config, **spec)

    def suggest(self, trial_id: str) -> dict | None:
        return self.searcher.suggest(trial_id)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if result.get(INFEASIBLE_RESULT):  # not trained: nothing for Optuna's intermediate values
            self.representative[trial_id] = dict(result)
            return
        value = result.get(self.select_metric)
        kept = self.representative.get(trial_id)
        if record.is_number(value) and (kept is None or improves(value, kept[self.select_metric], self.select_mode)):
            self.representative[trial_id] = dict(result)
        self.searcher.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        kept = self.representative.pop(trial_id, None)
        if kept is not None and not error:
            if self.constraints:
                trial = optuna_trial(self.searcher, trial_id)
                for name, value in violations(self.constraints, kept).items():
                    trial.set_constraint(name, value)
            if kept.get(INFEASIBLE_RESULT):
                result = None  # no values: Optuna marks it pruned, and TPE reads its violations
            elif result is not None and self.tell_representative:
                result = kept
        self.searcher.on_trial_complete(trial_id, result=result, error=error)

    # Tune saves each wrapper's state apart from the searcher it wraps (it follows `.searcher`).
    def get_state(self) -> dict:
        return {"representative": {trial: dict(result) for trial, result in self.representative.items()}}

    def set_state(self, state: dict) -> None:
        self.representative = dict(state["representative"])
