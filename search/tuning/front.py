"""After a search of several objectives: its Pareto front, each member scored once on the
test split, and the member exported by the rule `search.select` states.

A trial stands for its best epoch by search.metric (the first objective that training
changes): the epoch whose checkpoint the trial keeps and the test split scores. Its other
objectives are read at that epoch. Only trials that completed (finished, early-stopped or
stopped by their scheduler) and broke no constraint take part; the front is the trials no
other one dominates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from search import record
from search.space.spec import Spec
from search.tuning.evaluate import Evaluation, evaluate_result, trial_id_of
from search.tuning.pareto import non_dominated, select


@dataclass
class Front:
    metrics: list[str]
    modes: list[str]
    values: dict[str, list[float]]  # member -> its objectives' values, members by the first objective
    selected: Evaluation  # the member exported, at its checkpoint, with the yardsticks
    rule: str  # how it was selected, in words
    test: dict[str, dict[str, float]] = field(default_factory=dict)  # member -> its test metrics
    candidates: int = 0  # trials that took part

    @property
    def members(self) -> list[str]:
        return list(self.values)

    def table(self) -> pd.DataFrame:
        """A row per member, by the first objective: its objectives, its test metrics, and
        whether it is the one exported."""
        rows = [{"trial": trial, **dict(zip(self.metrics, values)), **self.test.get(trial, {}),
                 "selected": trial == self.selected.trial_id} for trial, values in self.values.items()]
        return pd.DataFrame(rows)


def objective_values(row: dict | None, metrics: list[str]) -> list[float] | None:
    """A trial's objectives at its representative epoch; None where one is not a finite number."""
    values = [(row or {}).get(metric) for metric in metrics]
    return [float(v) for v in values] if all(record.is_number(v) for v in values) else None


def candidates(spec: Spec, logger) -> dict[str, list[float]]:
    metrics = [objective.metric for objective in spec.search.objective_list]
    found = {}
    for trial_id, trial in logger.trials.items():
        values = objective_values(trial.best, metrics)
        if record.is_completed(trial.status) and trial.feasible is not False and values is not None:
            found[trial_id] = values
    return found


def selection_rule(spec: Spec) -> str:
    chosen = spec.search.select
    first = spec.search.objective_list[0].metric
    if chosen is None or (chosen.objective == first and chosen.within == 0):
        return f"the best on {first}"
    others = [o.metric for o in spec.search.objective_list if o.metric != chosen.objective]
    return (f"the best on {', then '.join(others)} among members within {chosen.within * 100:g}% of the best "
            f"{chosen.objective}")


def evaluate_front(spec: Spec, task, loaded, results, tracker, logger) -> Front | None:
    """Tags the front's trial runs, scores each member on the test split (logged on its run),
    logs the front on the search run; None when no trial has every objective."""
    objectives = spec.search.objective_list
    metrics, modes = [o.metric for o in objectives], [o.mode for o in objectives]
    points = candidates(spec, logger)
    if not points:
        return None
    ids = list(points)
    mask = non_dominated(np.array([points[trial] for trial in ids]), modes)
    sign = 1 if modes[0] == "min" else -1
    members = sorted((trial for trial, on_front in zip(ids, mask) if on_front),
                     key=lambda trial: (sign * points[trial][0], trial))
    chosen = spec.search.select
    selected = select({trial: points[trial] for trial in members}, metrics, modes,
                      chosen.objective if chosen else None, chosen.within if chosen else 0.0)
    by_trial = {trial_id_of(result): result for result in results}
    front = Front(metrics, modes, {trial: points[trial] for trial in members}, selected=None,
                  rule=selection_rule(spec), candidates=len(points))
    for trial in members:
        evaluation = evaluate_result(task, loaded, by_trial[trial], spec.search.metric, spec.search.mode,
                                     yardsticks=trial == selected)
        run_id = logger.trials[trial].run_id
        tracker.client.set_tag(run_id, record.PARETO, "true")
        if evaluation is None:  # its kept checkpoint is gone: a member, not scored
            continue
        tracker.log_metrics(evaluation.test, run_id=run_id)
        front.test[trial] = dict(evaluation.test)
        if trial == selected:
            front.selected = evaluation
        else:
            evaluation.trial = None  # its model and data on the device are not needed any longer
    if front.selected is None:
        return None
    tracker.log_metrics({record.PARETO_SIZE: len(members)})
    tracker.client.log_text(tracker.run_id, front.table().to_csv(index=False), record.PARETO_CSV)
    return front
