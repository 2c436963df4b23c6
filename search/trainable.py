"""The Ray Tune function trainable: one trial = search.training.Trial, reported each epoch."""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Any

import ray
import torch
from ray import tune

from search.data import get_task
from search.ray_internals import CHECKPOINT_STORAGE_LOGGER

CHECKPOINT_FILE = "trial.pt"


def trial_threads() -> int:
    # One torch thread per whole CPU Ray gave the trial, so parallel trials never
    # oversubscribe the cores (a 0.5-CPU trial still gets one thread).
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
    return max(1, int(cpus))


def train_trial(config: dict[str, Any], *, task_name: str, loaded: Any) -> None:
    """Ray Tune calls this per trial; `loaded` arrives once per worker from the object store."""
    from search.training import Trial  # after the thread setting, in the worker

    torch.set_num_threads(trial_threads())
    # Every epoch checkpoints; Ray's line per checkpoint would bury the progress table.
    logging.getLogger(CHECKPOINT_STORAGE_LOGGER).setLevel(logging.WARNING)
    task = get_task(task_name)
    splits = task.splits(loaded, task.Options(**config["data"]))
    gpu_share = ray.get_runtime_context().get_assigned_resources().get("GPU", 0.0)
    trial = Trial(task, splits, config, gpu_share=gpu_share)

    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:  # a retried or resumed trial continues from its last epoch
        with checkpoint.as_directory() as folder:
            trial.state.load_state_dict(torch.load(os.path.join(folder, CHECKPOINT_FILE), weights_only=False))

    node_id = ray.get_runtime_context().get_node_id()
    for metrics in trial.epochs():
        with tempfile.TemporaryDirectory() as folder:
            torch.save(trial.state.state_dict(), os.path.join(folder, CHECKPOINT_FILE))
            tune.report({**metrics, "node_id": node_id, "device": str(trial.device)},
                        checkpoint=tune.Checkpoint.from_directory(folder))
