"""The Ray Tune function trainable: one trial = search.trial.training.Trial, reported each epoch.

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
  logger skips an epoch it has (search/tracking/tracker.py), but the scheduler sees every
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

Under pbt an exploit continues from another trial's checkpoint (search/tuning/pbt_schedule.py):
that checkpoint's epoch is the other trial's, so nothing is reported again; the trial's own
epochs go on from where it stood, under the config's perturbed values.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from typing import Any, Sequence

import ray
import torch
from ray import tune

from search.data import get_task
from search.record import EPOCH_METRICS
from search.space.constraints import INFEASIBLE_RESULT, Constraint, broken, parse_constraints
from search.trial.checkpoints import CHECKPOINT_FILE, load_checkpoint_folder
from search.trial.costs import PeakMemory, TrialCosts
from search.tuning.pbt_schedule import ScheduleKeeper
from search.tuning.ray_internals import CHECKPOINT_STORAGE_LOGGER


def threads_for_share(cpus: float) -> int:
    # One torch thread per whole CPU Ray gave the trial, so parallel trials never
    # oversubscribe the cores (a 0.5-CPU trial still gets one thread). search.reproduce
    # uses the same count: a sum split over other threads may round differently.
    return max(1, int(cpus))


def trial_threads() -> int:
    return threads_for_share(ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0))


def train_trial(config: dict[str, Any], *, task_name: str, loaded: Any, constraints: Sequence[str] = (),
                mutate: Sequence[str] = ()) -> None:
    """Ray Tune calls this per trial; `loaded` arrives once per worker from the object store.
    `constraints`: search.constraints; those known before training are checked before it.
    `mutate`: under pbt, the keys whose values may change (search/tuning/pbt_schedule.py)."""
    from search.trial.training import pick_device

    gpu_share = ray.get_runtime_context().get_assigned_resources().get("GPU", 0.0)
    # First: the trial's peak memory counts its data and its model too.
    memory = PeakMemory(pick_device(gpu_share))
    try:
        _train(config, task_name, loaded, gpu_share, memory, parse_constraints(constraints), list(mutate))
    finally:
        memory.close()


def _train(config: dict[str, Any], task_name: str, loaded: Any, gpu_share: float, memory: PeakMemory,
           constraints: list[Constraint], mutate: list[str]) -> None:
    from search.trial.resource_use import TrialMeter
    from search.trial.training import Trial  # after the thread setting, in the worker

    torch.set_num_threads(trial_threads())
    # Every epoch checkpoints; Ray's line per checkpoint would bury the progress table.
    logging.getLogger(CHECKPOINT_STORAGE_LOGGER).setLevel(logging.WARNING)
    task = get_task(task_name)
    # The driver validated these options; validated again here, checks of the driver's own
    # machine (a data file's path exists) would fail on a node that does not have the file.
    splits = task.splits(loaded, task.Options.model_construct(**config["data"]))
    trial = Trial(task, splits, config, gpu_share=gpu_share)

    node_id = ray.get_runtime_context().get_node_id()
    keeper = ScheduleKeeper(config, mutate, tune.get_context().get_trial_id()) if mutate else None

    def report(metrics: dict[str, Any]) -> None:
        pbt = keeper.saved() if keeper else {}
        with tempfile.TemporaryDirectory() as folder:
            torch.save({**trial.state.state_dict(), **pbt}, os.path.join(folder, CHECKPOINT_FILE))
            tune.report({**metrics, **pbt, "node_id": node_id, "device": str(trial.device)},
                        checkpoint=tune.Checkpoint.from_directory(folder))

    checkpoint = tune.get_checkpoint()
    own = True  # the checkpoint is the trial's own; under pbt an exploit continues another trial's
    if checkpoint is not None:  # a retried, resumed or promoted trial continues from its last epoch
        with checkpoint.as_directory() as folder:
            saved = load_checkpoint_folder(folder)
        trial.state.load_state_dict(saved)
        if keeper:
            own = keeper.continue_from(saved, trial)
    costs = TrialCosts(trial, memory, earlier=trial.state.results[-1] if own and trial.state.results else None)
    if checkpoint is None:
        refused = broken([c for c in constraints if c.before_training], costs.before_training())
        if refused:  # not trained: its measured costs and NaN for what training would have measured
            tune.report({**costs.after_epoch(), **{name: math.nan for name in EPOCH_METRICS[task.kind]},
                         "epoch": 0, INFEASIBLE_RESULT: "; ".join(refused), "model_params": trial.model_params,
                         "node_id": node_id, "device": str(trial.device)})
            return
    if own and trial.state.results:
        report(trial.state.results[-1])

    meter = TrialMeter(gpu_share, trial.device.type == "cuda",
                       earlier=trial.state.results[-1] if own and trial.state.results else None)
    try:
        for metrics in trial.epochs():
            # Into the epoch's own dict, which the checkpoint's results hold too: a trial
            # continued from it reports the epoch again with its costs, and carries its
            # totals on (under pbt its values too).
            metrics.update(costs.after_epoch())
            metrics.update(meter.epoch_readings())
            if keeper:
                keeper.after_epoch(trial, metrics)
            report(metrics)
    finally:
        meter.close()
