"""train.lr_schedule: values checked, each schedule applied epoch by epoch, resume exact."""

from __future__ import annotations

import io
import math

import pytest
import torch
from torch.optim.lr_scheduler import OneCycleLR, ReduceLROnPlateau

from search.errors import SpecError
from search.space.validation import load_spec
from search.trial.training import Trial
from tests.helpers import write_space

LR, EPOCHS = 0.01, 6

SPACE = """\
name: tiny
task: electricity
data: {lookback: 24}
model: {name: simple_rnn, hidden_size: 8, num_layers: 1}
train: {epochs: 6, lr: 0.01, patience: 3}
space:
  train.lr: {loguniform: [1.0e-4, 1.0e-2]}
"""


@pytest.mark.parametrize("overrides, expected", [
    (["train.lr_schedule=step"], "train.lr_schedule: Input should be 'none', 'cosine', 'plateau' or 'onecycle'"),
    (["train.warmup_fraction=1.0"], "train.warmup_fraction: Input should be less than 1"),
    (["train.warmup_fraction=-0.1"], "train.warmup_fraction: Input should be greater than or equal to 0"),
    (["train.lr_schedule=cosine", "train.warmup_fraction=0.95"], "warmup_fraction 0.95 of 6 epochs leaves no epoch"),
    (["train.lr_schedule=plateau", "train.plateau_patience=2"], "patience 3 ends the trial before the plateau"),
    (["train.plateau_factor=1.5"], "train.plateau_factor: Input should be less than 1"),
    (["train.warmup_epochs=2"], "train.warmup_epochs: unknown key"),
])
def test_bad_schedule_settings_are_refused(tmp_path, overrides, expected):
    with pytest.raises(SpecError) as caught:
        load_spec(write_space(tmp_path, SPACE), overrides)
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_searched_schedule_is_checked_value_by_value(tmp_path):
    spec = load_spec(write_space(tmp_path, SPACE),
                     ["space.train.lr_schedule={choice: [none, cosine, plateau, onecycle]}"])
    assert spec.space["train.lr_schedule"].args == ["none", "cosine", "plateau", "onecycle"]
    with pytest.raises(SpecError, match="space.train.lr_schedule: value 'linear' is not allowed"):
        load_spec(write_space(tmp_path, SPACE), ["space.train.lr_schedule={choice: [cosine, linear]}"])


@pytest.fixture(scope="module")
def electricity():
    from search.data import get_task

    task = get_task("electricity")
    options = task.Options(lookback=24)
    return task, task.splits(task.load(options, smoke=True), options)


def make_trial(electricity, **train) -> Trial:
    task, splits = electricity
    config = {"data": {}, "model": {"name": "simple_rnn", "hidden_size": 8, "num_layers": 1},
              "train": {"epochs": EPOCHS, "lr": LR, "patience": None, "batch_size": 256, **train}}
    return Trial(task, splits, config)


def run(trial: Trial) -> list[dict]:
    return list(trial.epochs())


def test_no_schedule_keeps_the_learning_rate(electricity):
    assert [m["lr"] for m in run(make_trial(electricity))] == [LR] * EPOCHS


def test_warmup_alone_rises_linearly_then_holds(electricity):
    lrs = [m["lr"] for m in run(make_trial(electricity, warmup_fraction=0.34))]  # 2 of 6 epochs
    assert lrs[0] == pytest.approx(LR / 25)
    assert lrs[1] == pytest.approx(LR / 25 + (LR - LR / 25) / 2)
    assert lrs[2:] == pytest.approx([LR] * 4)


@pytest.mark.parametrize("warmup_fraction, warmup", [(None, 0), (0.34, 2)])
def test_cosine_follows_the_closed_form_after_the_warmup(electricity, warmup_fraction, warmup):
    lrs = [m["lr"] for m in run(make_trial(electricity, lr_schedule="cosine", warmup_fraction=warmup_fraction))]
    if warmup:
        assert lrs[0] == pytest.approx(LR / 25)
    after = EPOCHS - warmup
    expected = [LR * (1 + math.cos(math.pi * i / after)) / 2 for i in range(after)]
    assert lrs[warmup:] == pytest.approx(expected)
    assert lrs[-1] > 0


def test_onecycle_matches_torch(electricity):
    lrs = [m["lr"] for m in run(make_trial(electricity, lr_schedule="onecycle"))]
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=LR)
    reference = OneCycleLR(optimizer, max_lr=LR, total_steps=EPOCHS + 1, pct_start=0.3, cycle_momentum=False)
    expected = []
    for _ in range(EPOCHS):
        expected.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        reference.step()
    assert lrs == pytest.approx(expected)
    assert lrs[0] == pytest.approx(LR / 25) and 0.9 * LR < max(lrs) <= LR
    assert lrs[-1] < lrs[-2] and lrs[-1] > 0


def test_plateau_lowers_the_rate_on_a_stalled_val_loss(electricity):
    # Plain SGD this slow leaves val_loss all but unchanged: every epoch stalls.
    tiny = 1e-6
    metrics = run(make_trial(electricity, optimizer="sgd", momentum=0.0, lr=tiny, lr_schedule="plateau",
                             plateau_factor=0.5, plateau_patience=1))
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=tiny)
    reference = ReduceLROnPlateau(optimizer, factor=0.5, patience=1)
    expected = []
    for epoch in metrics:
        expected.append(optimizer.param_groups[0]["lr"])
        reference.step(epoch["val_loss"])
    assert [m["lr"] for m in metrics] == pytest.approx(expected)
    assert metrics[-1]["lr"] < tiny


def checkpoint_bytes(trial: Trial) -> io.BytesIO:
    buffer = io.BytesIO()
    torch.save(trial.state.state_dict(), buffer)
    buffer.seek(0)
    return buffer


@pytest.mark.parametrize("schedule", [
    {"lr_schedule": "cosine", "warmup_fraction": 0.34},
    {"lr_schedule": "onecycle"},
    {"lr_schedule": "plateau", "warmup_fraction": 0.17, "plateau_patience": 0},
    {"lr_schedule": "none", "warmup_fraction": 0.5},
], ids=lambda s: s["lr_schedule"])
def test_a_resumed_trial_continues_its_schedule(electricity, schedule):
    straight = run(make_trial(electricity, **schedule))
    first = make_trial(electricity, **schedule)
    head = [next(first.epochs()) for _ in range(3)]
    resumed = make_trial(electricity, **schedule)
    # As the trainable loads a checkpoint, and as plain data (weights_only).
    resumed.state.load_state_dict(torch.load(checkpoint_bytes(first), weights_only=True))
    tail = run(resumed)
    assert [m["epoch"] for m in head + tail] == list(range(1, EPOCHS + 1))
    assert [m["lr"] for m in head + tail] == pytest.approx([m["lr"] for m in straight])
    assert [m["val_loss"] for m in tail] == pytest.approx([m["val_loss"] for m in straight[3:]], rel=1e-5)
    assert len({m["lr"] for m in straight}) > 1, "the schedule changed the learning rate"


@pytest.mark.slow
def test_each_trial_logs_its_learning_rate_per_epoch(workdir, local_ray):
    """Through a real search: MLflow holds `lr` at every epoch, as the schedule gave it."""
    from mlflow.tracking import MlflowClient

    from search.run import main
    from tests.helpers import search_and_trial_runs

    uri = f"sqlite:///{workdir}/mlflow.db"
    path = write_space(workdir, SPACE)
    overrides = ["--set", "train.patience=null", "--set", "search.algorithm=grid",
                 "--set", "search.scheduler.name=none", "--set", "space.train.lr_schedule={grid: [none, cosine]}",
                 "--set", "space.train.lr={grid: [0.01]}"]
    assert main([str(path), "--smoke", "--tracking-uri", uri, *overrides]) == 0
    client = MlflowClient(tracking_uri=uri)
    _, trials = search_and_trial_runs(client, "tiny")
    logged = {trial.data.params["train.lr_schedule"]:
              [m.value for m in sorted(client.get_metric_history(trial.info.run_id, "lr"), key=lambda m: m.step)]
              for trial in trials}
    assert logged["none"] == pytest.approx([LR] * 2)  # --smoke: 2 epochs
    assert logged["cosine"] == pytest.approx([LR, LR / 2])  # half a cosine over 2 epochs
