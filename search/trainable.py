"""The Ray Tune function trainable: one trial = search.training.Trial, reported each epoch.

Every report carries the checkpoint of its epoch, which also holds every epoch's metrics
so far. A trial continued from a checkpoint first reports that checkpoint's epoch again,
with the checkpoint, and then trains on:

- The driver may not have that epoch. The worker writes a checkpoint to storage before
  its result reaches the driver, so a driver killed in between leaves a checkpoint ahead
  of what Tune and MLflow know, and a resume may continue from it (search/
  stale_checkpoints.py). Were it the last epoch, nothing would report it ever again.
  Only the last epoch can be missing: tune.report blocks until the driver asks for the
  next result, which Tune does after handling the last one, so every earlier epoch had
  reached the driver before this checkpoint was written.
- Only that epoch is reported again, not the earlier ones stored with it. The MLflow
  logger skips an epoch it has (search/tracking.py), but the scheduler sees every
  report. A repeat of the latest epoch is what Tune itself sends every scheduler when a
  function trainable returns (its last result again, marked done), and both schedulers
  take it: ASHA judges a trial once per rung and skips a rung it recorded; successive
  halving continues a promoted trial whose epoch is below its new rung, and holds one it
  has not seen at the rung the epoch is at. Earlier epochs reported again would send a
  trial back through rungs it had passed (a resumed search's schedulers start empty) and
  pause or stop it on old results.
- With its checkpoint: Tune then registers the checkpoint under the metrics of the epoch
  its weights are from, so the best-checkpoint bookkeeping (Tune's kept checkpoints, the
  logger's best_checkpoint, the best trial's evaluation) holds the epoch; a report
  without one would leave that epoch's weights unknown to Tune, however good its metrics.
  The copy costs one checkpoint write per continuation.
"""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Any

import ray
import torch
from ray import tune

from search.checkpoints import CHECKPOINT_FILE, load_checkpoint_folder
from search.data import get_task
from search.ray_internals import CHECKPOINT_STORAGE_LOGGER


def threads_for_share(cpus: float) -> int:
    # One torch thread per whole CPU Ray gave the trial, so parallel trials never
    # oversubscribe the cores (a 0.5-CPU trial still gets one thread). search.reproduce
    # uses the same count: a sum split over other threads may round differently.
    return max(1, int(cpus))


def trial_threads() -> int:
    return threads_for_share(ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0))


def train_trial(config: dict[str, Any], *, task_name: str, loaded: Any) -> None:
    """Ray Tune calls this per trial; `loaded` arrives once per worker from the object store."""
    from search.resource_use import TrialMeter
    from search.training import Trial  # after the thread setting, in the worker

    torch.set_num_threads(trial_threads())
    # Every epoch checkpoints; Ray's line per checkpoint would bury the progress table.
    logging.getLogger(CHECKPOINT_STORAGE_LOGGER).setLevel(logging.WARNING)
    task = get_task(task_name)
    # The driver validated these options; validated again here, checks of the driver's own
    # machine (a data file's path exists) would fail on a node that does not have the file.
    splits = task.splits(loaded, task.Options.model_construct(**config["data"]))
    gpu_share = ray.get_runtime_context().get_assigned_resources().get("GPU", 0.0)
    trial = Trial(task, splits, config, gpu_share=gpu_share)

    node_id = ray.get_runtime_context().get_node_id()

    def report(metrics: dict[str, Any]) -> None:
        with tempfile.TemporaryDirectory() as folder:
            torch.save(trial.state.state_dict(), os.path.join(folder, CHECKPOINT_FILE))
            tune.report({**metrics, "node_id": node_id, "device": str(trial.device)},
                        checkpoint=tune.Checkpoint.from_directory(folder))

    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:  # a retried, resumed or promoted trial continues from its last epoch
        with checkpoint.as_directory() as folder:
            trial.state.load_state_dict(load_checkpoint_folder(folder))
        if trial.state.results:
            report(trial.state.results[-1])

    meter = TrialMeter(gpu_share, trial.device.type == "cuda",
                       earlier=trial.state.results[-1] if trial.state.results else None)
    try:
        for metrics in trial.epochs():
            # Into the epoch's own dict, which the checkpoint's results hold too: a trial
            # continued from it carries its totals on.
            metrics.update(meter.epoch_readings())
            report(metrics)
    finally:
        meter.close()
