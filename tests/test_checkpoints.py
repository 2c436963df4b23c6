"""A trial's checkpoint: plain data with every epoch's metrics, loaded as data, never as code."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from search.trial.checkpoints import CHECKPOINT_FILE, CheckpointRefused, load_checkpoint
from search.trial.training import Trial
from search.tuning.evaluate import trial_at_checkpoint

MARKER = "ran_code_on_load"


class RunsCode:
    """Unpickling it would run a shell command (os.system) that leaves a file behind."""

    def __init__(self, folder):
        self.folder = folder

    def __reduce__(self):
        return os.system, (f"touch {self.folder / MARKER}",)


class Settings:
    """A class instance: harmless, but no plain data either."""

    def __init__(self):
        self.lr = 0.01


@pytest.fixture(scope="module")
def electricity():
    from search.data import get_task

    task = get_task("electricity")
    options = task.Options(lookback=24)
    loaded = task.load(options, smoke=True)
    return task, loaded, task.splits(loaded, options)


def config(**train) -> dict:
    return {"data": {"lookback": 24}, "model": {"name": "simple_rnn", "hidden_size": 8, "num_layers": 1},
            "train": {"epochs": 4, "lr": 0.01, "patience": None, "batch_size": 256, **train}}


def save(trial: Trial, folder) -> str:
    path = os.path.join(folder, CHECKPOINT_FILE)
    torch.save(trial.state.state_dict(), path)
    return path


def test_a_checkpoint_holds_every_epochs_metrics_and_loads_as_data(electricity, tmp_path):
    task, _, splits = electricity
    trial = Trial(task, splits, config(lr_schedule="onecycle"))
    head = [metrics for _, metrics in zip(range(3), trial.epochs())]
    state = load_checkpoint(save(trial, tmp_path))  # weights_only: it would raise otherwise
    assert state["epoch"] == 3
    assert state["results"] == head  # numbers as yielded, epoch 1 first
    assert [r["epoch"] for r in state["results"]] == [1, 2, 3]

    resumed = Trial(task, splits, config(lr_schedule="onecycle"))
    resumed.state.load_state_dict(state)
    assert resumed.state.results == head
    tail = list(resumed.epochs())
    assert [m["epoch"] for m in tail] == [4]
    assert [r["epoch"] for r in resumed.state.results] == [1, 2, 3, 4]


def test_a_classification_checkpoint_loads_as_data(tmp_path):
    from search.data import get_task

    task = get_task("tweets")
    options = task.Options(vocab_size=50, max_len=8)
    splits = task.splits(task.load(options, smoke=True), options)
    trial = Trial(task, splits, {"data": {"vocab_size": 50, "max_len": 8},
                                 "model": {"name": "lstm", "hidden_size": 8, "num_layers": 1},
                                 "train": {"epochs": 1, "lr": 0.01, "batch_size": 256, "optimizer": "adamw"}})
    (metrics,) = trial.epochs()
    state = load_checkpoint(save(trial, tmp_path))
    assert state["results"] == [metrics]
    assert isinstance(state["results"][0]["val_confusion"], list)  # the confusion matrix, as lists


def test_an_early_stopped_checkpoint_trains_no_more(electricity):
    task, _, splits = electricity
    trial = Trial(task, splits, config(patience=1))
    next(trial.epochs())
    state = trial.state.state_dict()
    state["early_stopping"]["bad_epochs"] = 1  # as saved at an epoch whose val_loss did not drop
    resumed = Trial(task, splits, config(patience=1))
    resumed.state.load_state_dict(state)
    assert list(resumed.epochs()) == []


@pytest.mark.parametrize("content, reason", [
    (lambda folder: {"model": {}, "x": RunsCode(folder)}, "posix.system"),
    (lambda folder: {"model": {}, "settings": Settings()}, "Settings"),
], ids=["os.system", "class instance"])
def test_a_checkpoint_holding_an_object_is_refused_naming_the_file(tmp_path, content, reason):
    path = tmp_path / CHECKPOINT_FILE
    torch.save(content(tmp_path), path)
    with pytest.raises(CheckpointRefused) as refused:
        load_checkpoint(path)
    message = str(refused.value)
    assert f"checkpoint {path} was refused" in message and reason in message and "\n" not in message
    assert not (tmp_path / MARKER).exists()  # nothing ran


def test_a_plain_pickle_and_a_broken_file_are_refused(tmp_path):
    path = tmp_path / CHECKPOINT_FILE
    path.write_bytes(pickle.dumps(RunsCode(tmp_path)))
    with pytest.raises(CheckpointRefused, match=f"checkpoint {path} was refused"):
        load_checkpoint(path)
    assert not (tmp_path / MARKER).exists()
    path.write_bytes(b"epoch 2")
    with pytest.raises(CheckpointRefused, match=f"checkpoint {path} cannot be read"):
        load_checkpoint(path)


def test_the_best_trials_evaluation_refuses_such_a_checkpoint(electricity, tmp_path):
    task, loaded, _ = electricity
    torch.save({"model": {}, "x": RunsCode(tmp_path)}, tmp_path / CHECKPOINT_FILE)
    with pytest.raises(CheckpointRefused, match=f"checkpoint {tmp_path / CHECKPOINT_FILE} was refused"):
        trial_at_checkpoint(task, loaded, config(), str(tmp_path))
    assert not (tmp_path / MARKER).exists()

    trial = Trial(task, electricity[2], config())
    for _ in trial.epochs():
        pass
    save(trial, tmp_path)
    scored = trial_at_checkpoint(task, loaded, config(), str(tmp_path))
    assert scored.state.epoch == 4 and scored.score("test") == pytest.approx(trial.score("test"))


@pytest.mark.parametrize("fused_first", [True, False])
def test_a_fused_optimizers_checkpoint_continues_under_the_default_one_and_back(electricity, tmp_path, monkeypatch,
                                                                                 fused_first):
    """On a GPU a trial's Adam is fused (its step counters live on the GPU): its checkpoint
    must continue where the optimizer is PyTorch's default (a CPU node, the evaluation on
    the driver), and the other way round, to the same numbers."""
    import search.trial.training as training

    task, _, splits = electricity
    build = training.build_optimizer

    def new_trial(fused: bool) -> Trial:
        with monkeypatch.context() as patch:
            if fused:  # built as on a GPU: fused kernels exist on the CPU too
                patch.setattr(training, "build_optimizer",
                              lambda params, train, device: build(params, train, torch.device("cuda")))
            trial = Trial(task, splits, config())
        assert bool(trial.state.optimizer.defaults.get("fused")) == fused
        return trial

    trial = new_trial(fused_first)
    assert [metrics["epoch"] for _, metrics in zip(range(2), trial.epochs())] == [1, 2]
    resumed = new_trial(not fused_first)
    resumed.state.load_state_dict(load_checkpoint(save(trial, tmp_path)))
    same, other = list(trial.epochs()), list(resumed.epochs())
    assert [m["epoch"] for m in other] == [3, 4]
    for ours, theirs in zip(same, other, strict=True):
        assert theirs["val_loss"] == pytest.approx(ours["val_loss"], rel=1e-4)
