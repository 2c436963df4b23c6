"""After the search: the best trial's best checkpoint, scored once on the test split.

The test split never takes part in selection: trials see only train and val, and
this runs once, on the one configuration the search metric picked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from search.data import Task
from search.space.spec import Spec
from search.trial.checkpoints import load_checkpoint_folder
from search.trial.training import Trial


@dataclass
class Evaluation:
    trial_id: str
    config: dict[str, Any]
    selection_value: float
    test: dict[str, float]
    baselines: dict[str, float]
    test_confusion: list[list[int]] | None = None
    class_names: list[str] | None = None
    trial: Trial | None = None  # the best trial at its best checkpoint (its model, its splits)


def trial_at_checkpoint(task: Task, loaded: Any, config: dict[str, Any], folder: str) -> Trial:
    """A trial's model with the weights (and state) of the checkpoint in `folder`; the file is
    read as data (CheckpointRefused names it otherwise), before the trial is built."""
    state = load_checkpoint_folder(folder)
    trial = Trial(task, task.splits(loaded, task.Options(**config["data"])), config)
    trial.state.load_state_dict(state)
    return trial


def evaluate_best(spec: Spec, task: Task, loaded: Any, results, exclude: set[str] = frozenset()) -> Evaluation | None:
    """None when no trial produced a finite value of the search metric. `exclude`: trial ids that
    may not be the best (they broke a constraint)."""
    metric, mode = spec.search.metric, spec.search.mode
    if exclude:
        best = best_result_among(results, metric, mode, exclude)
        return None if best is None else evaluate_result(task, loaded, best, metric, mode)
    try:
        best = results.get_best_result(metric=metric, mode=mode, scope="all", filter_nan_and_inf=True)
    except RuntimeError:
        return None
    return evaluate_result(task, loaded, best, metric, mode)


def best_result_among(results, metric: str, mode: str, exclude: set[str]):
    """Tune's get_best_result(scope="all", filter_nan_and_inf=True) over the trials not excluded:
    the trial with the best finite value of `metric` at any epoch; None when none has one."""
    scored = []
    for result in results:
        history = result.metrics_dataframe
        if trial_id_of(result) in exclude or history is None or metric not in history:
            continue
        values = history[metric][np.isfinite(history[metric])]
        if len(values):
            scored.append((values.min() if mode == "min" else -values.max(), result))
    return min(scored, key=lambda pair: pair[0])[1] if scored else None


def trial_id_of(result) -> str | None:
    """The trial a Tune Result is of. Its own reports say so; its last result need not: under pbt a
    trial exploited at its last epoch ends with the copied trial's result (its trial_id too)."""
    history = result.metrics_dataframe
    if history is not None and "trial_id" in history and len(history):
        return str(history["trial_id"].iloc[0])
    return result.metrics.get("trial_id")


def evaluate_result(task: Task, loaded: Any, result, metric: str, mode: str,
                    yardsticks: bool = True) -> Evaluation | None:
    """One trial's (a Tune Result's) best checkpoint by `metric` on the test split, with the
    yardsticks on the same split unless told not to; None when it has no checkpoint."""
    checkpoint = result.get_best_checkpoint(metric=metric, mode=mode)
    if checkpoint is None:
        return None
    config = result.config
    options = task.Options(**config["data"])
    with checkpoint.as_directory() as folder:
        trial = trial_at_checkpoint(task, loaded, config, folder)
    scores = trial.score("test")
    confusion = scores.pop("test_confusion", None)
    history = result.metrics_dataframe
    selection = history[metric].min() if mode == "min" else history[metric].max()
    return Evaluation(
        trial_id=trial_id_of(result), config=config, selection_value=float(selection),
        test=scores, baselines=task.baselines(loaded, options) if yardsticks else {},
        test_confusion=confusion, class_names=trial.splits.class_names, trial=trial,
    )
