"""`search.refit: true`: the winner trained once more on train + validation, the model shipped.

The search chose a configuration and an epoch count on the validation split; once chosen,
the validation rows are only more training data. The winner (the re-evaluation winner
when there is one) is trained again from scratch on train + validation, for the epochs at
which it was best, on a fresh seed (never one a trial or a re-evaluation ran), with its
own patience off: the epoch count is already chosen. Its learning-rate schedule runs as
it did (over train.epochs), so each epoch trains at the winner's learning rate. It runs
as one Ray task with a trial's resources, then is scored once on the untouched test split
(`refit_test_*`) and becomes the exported and registered model. The validation metrics a
refit epoch reports are on rows it trained on, so its run logs only training curves.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import torch

from search import record
from search.record import Role
from search.space.dotted import flatten
from search.space.spec import Spec
from search.tracking.lineage import TRIAL_CONTEXT, log_data_input
from search.tracking.tracker import log_params
from search.tuning.evaluate import Evaluation

# Far from the seeds trials (the spec's) and re-evaluations (+1, +2, ...) use.
REFIT_SEED_OFFSET = 1000
LOGGED_CURVES = ("train_loss", "train_acc", record.LR, record.EPOCH_TIME, *record.RESOURCE_CURVES)


def train_and_validation(splits):
    """The splits with validation's rows added to training's (test untouched)."""
    (x_train, y_train), (x_val, y_val) = splits.train, splits.val
    return dataclasses.replace(splits, train=(torch.cat([x_train, x_val]), torch.cat([y_train, y_val])))


def refit_config(config: dict[str, Any]) -> dict[str, Any]:
    train = {**config["train"], "seed": int(config["train"]["seed"]) + REFIT_SEED_OFFSET, "patience": None}
    return {**config, "train": train}


def train_refit(task_name: str, loaded: Any, config: dict[str, Any], epochs: int):
    """In a Ray worker: (each epoch's metrics, the test scores, the weights on the CPU)."""
    import ray

    from search.data import get_task
    from search.trial.resource_use import TrialMeter
    from search.trial.trainable import trial_threads
    from search.trial.training import Trial

    torch.set_num_threads(trial_threads())
    task = get_task(task_name)
    splits = train_and_validation(task.splits(loaded, task.Options.model_construct(**config["data"])))
    gpu_share = ray.get_runtime_context().get_assigned_resources().get("GPU", 0.0)
    trial = Trial(task, splits, config, gpu_share=gpu_share)
    meter = TrialMeter(gpu_share, trial.device.type == "cuda")
    history = []
    try:
        for metrics in trial.epochs():
            metrics.update(meter.epoch_readings())
            history.append(metrics)
            if metrics["epoch"] >= epochs:
                break
    finally:
        meter.close()
    scores = trial.score("test")
    weights = {name: tensor.cpu() for name, tensor in trial.state.model.state_dict().items()}
    return history, scores, weights


def refit(spec: Spec, task, loaded: Any, tracker, winner: Evaluation) -> tuple[Evaluation, dict[str, Any]]:
    """The refit model as an Evaluation (for export), and its last result (its resource totals)."""
    import ray

    from search.trial.training import Trial

    epochs = winner.trial.state.epoch  # the best checkpoint's epoch
    config = refit_config(winner.config)
    print(f"[search] refit: trial {winner.trial_id}'s configuration on train + validation, {epochs} epochs, "
          f"seed {config['train']['seed']}", flush=True)
    resources = spec.search.resources
    remote = ray.remote(num_cpus=resources.cpu, num_gpus=resources.gpu)(train_refit)
    history, scores, weights = ray.get(remote.remote(spec.task, loaded, config, epochs))
    confusion = scores.pop("test_confusion", None)
    refit_scores = {f"{record.REFIT_PREFIX}{name}": value for name, value in scores.items()}
    _log_refit_run(tracker, winner.trial_id, config, history, refit_scores)
    tracker.log_metrics(refit_scores)
    # The driver's copy, for the export: the same splits, the refit's weights.
    trial = Trial(task, train_and_validation(task.splits(loaded, task.Options(**config["data"]))), config)
    trial.state.model.load_state_dict(weights)
    trial.state.epoch = epochs
    refitted = Evaluation(trial_id=winner.trial_id, config=config, selection_value=winner.selection_value,
                          test=scores, baselines=winner.baselines, test_confusion=confusion,
                          class_names=winner.class_names, trial=trial)
    return refitted, history[-1] if history else {}


def _log_refit_run(tracker, trial_id: str, config: dict[str, Any], history: list[dict],
                   scores: dict[str, float]) -> None:
    from mlflow.entities import Metric

    client = tracker.client
    run = client.create_run(tracker.experiment_id, run_name=f"refit {trial_id}",
                            tags={record.ROLE: Role.REFIT, record.PARENT: tracker.run_id, record.CONFIG_OF: trial_id})
    run_id = run.info.run_id
    log_params(client, run_id, flatten(config))
    if tracker.data is not None:
        log_data_input(client, run_id, tracker.data, TRIAL_CONTEXT)
    now = int(time.time() * 1000)
    metrics = [Metric(name, float(row[name]), now, int(row["epoch"])) for row in history
               for name in LOGGED_CURVES if record.is_number(row.get(name))]
    last = history[-1] if history else {}
    metrics += [Metric(name, float(last[name]), now, int(last["epoch"])) for name in record.RESOURCE_TOTALS
                if record.is_number(last.get(name))]
    client.log_batch(run_id, metrics=metrics)
    tracker.log_metrics(scores, run_id=run_id)
    client.set_terminated(run_id, "FINISHED")
