"""A trial's measured costs (search/trial/costs.py): parameters, latency, seconds per epoch, peak memory."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from search.record import EPOCH_SECONDS, LATENCY_MS, PARAMS, PEAK_MEMORY_MB
from search.trial import costs
from search.trial.costs import PeakMemory, TrialCosts, forward_latency_ms, median_epoch_seconds, trainable_parameters
from tests.helpers import make_trial


def test_only_trainable_parameters_count():
    model = nn.Sequential(nn.Linear(10, 5), nn.Linear(5, 1))  # 55 + 6
    assert trainable_parameters(model) == 61
    model[0].weight.requires_grad_(False)
    assert trainable_parameters(model) == 11


def test_the_median_epoch_leaves_out_one_slow_first_epoch():
    rows = [{"epoch_time_s": 9.0}, {"epoch_time_s": 1.0}, {"epoch_time_s": 1.2}]
    assert median_epoch_seconds(rows) == 1.2
    assert math.isnan(median_epoch_seconds([]))


def rss_after_allocating(megabytes: int) -> np.ndarray:
    block = np.ones(megabytes * 2 ** 20, dtype=np.uint8)  # touched: resident, not only reserved
    return block


@pytest.mark.parametrize("kernel", [True, False], ids=["kernel_high_water_mark", "psutil_sampler"])
def test_a_new_trial_does_not_inherit_the_previous_trials_peak(kernel, monkeypatch):
    if not kernel:  # where /proc/self/clear_refs cannot be written
        monkeypatch.setattr(costs, "CLEAR_REFS", "/nonexistent/clear_refs")
    first = PeakMemory(torch.device("cpu"))
    block = rss_after_allocating(300)
    if not kernel:
        first._sampler.stop()  # one last sample, after the allocation
    held = first.peak_mb()
    first.close()
    del block
    second = PeakMemory(torch.device("cpu"))  # the next trial in the same (reused) worker process
    second.close()
    assert held - second.peak_mb() > 250, (held, second.peak_mb())


def test_costs_of_a_trial_are_measured_on_its_model_and_data():
    trial = make_trial("rnn_units.yaml", ["train.epochs=2", "train.batch_size=256"], smoke=True)
    memory = PeakMemory(trial.device)
    try:
        measured = TrialCosts(trial, memory)
        before = measured.before_training()
        assert before[PARAMS] == sum(p.numel() for p in trial.state.model.parameters())
        assert 0 < before[LATENCY_MS] < 1000
        rows = list(trial.epochs())
        after = measured.after_epoch()
        assert after[EPOCH_SECONDS] == pytest.approx(float(np.median([r["epoch_time_s"] for r in rows])))
        assert after[PEAK_MEMORY_MB] > 50  # a Python process with torch and the data
    finally:
        memory.close()


def test_a_continued_trial_keeps_its_timed_latency_and_its_earlier_peak():
    trial = make_trial("rnn_units.yaml", ["train.epochs=1"], smoke=True)
    memory = PeakMemory(trial.device)
    try:
        measured = TrialCosts(trial, memory, earlier={LATENCY_MS: 0.125, PEAK_MEMORY_MB: 1e6})
        assert measured.latency_ms == 0.125
        list(trial.epochs())
        assert measured.after_epoch()[PEAK_MEMORY_MB] == 1e6
    finally:
        memory.close()


def test_latency_leaves_the_model_in_training_mode():
    trial = make_trial("rnn_units.yaml", ["train.batch_size=64"], smoke=True)
    assert 0 < forward_latency_ms(trial, batches=3) < 1000
    assert trial.state.model.training  # the next epoch trains with dropout as before
