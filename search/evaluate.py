"""After the search: the best trial's best checkpoint, scored once on the test split.

The test split never takes part in selection: trials see only train and val, and
this runs once, on the one configuration the search metric picked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch

from search.data import Task
from search.spec import Spec
from search.trainable import CHECKPOINT_FILE
from search.training import Trial


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


def evaluate_best(spec: Spec, task: Task, loaded: Any, results) -> Evaluation | None:
    """None when no trial produced a finite value of the search metric."""
    metric, mode = spec.search.metric, spec.search.mode
    try:
        best = results.get_best_result(metric=metric, mode=mode, scope="all", filter_nan_and_inf=True)
    except RuntimeError:
        return None
    checkpoint = best.get_best_checkpoint(metric=metric, mode=mode)
    if checkpoint is None:
        return None
    config = best.config
    options = task.Options(**config["data"])
    trial = Trial(task, task.splits(loaded, options), config)
    with checkpoint.as_directory() as folder:
        trial.state.load_state_dict(torch.load(os.path.join(folder, CHECKPOINT_FILE), weights_only=False))
    scores = trial.score("test")
    confusion = scores.pop("test_confusion", None)
    history = best.metrics_dataframe
    selection = history[metric].min() if mode == "min" else history[metric].max()
    return Evaluation(
        trial_id=best.metrics["trial_id"], config=config, selection_value=float(selection),
        test=scores, baselines=task.baselines(loaded, options),
        test_confusion=confusion, class_names=trial.splits.class_names, trial=trial,
    )
