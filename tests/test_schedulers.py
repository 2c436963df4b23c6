"""Successive halving's brackets, the searcher's count of running trials, and the warning
when a scheduler has nothing to compare: Ray's and Optuna's real objects, no cluster."""

from __future__ import annotations

import re

import optuna
import pytest
from ray import tune
from ray.tune.experiment.trial import Trial
from ray.tune.schedulers import HyperBandForBOHB
from ray.tune.search.optuna import OptunaSearch

from search.errors import SpecError
from search.space.validation import load_spec, validate_spec
from search.tuning.no_repeats import NoRepeats
from search.tuning.ray_internals import RayInternalsChanged, use_one_bracket_shape
from search.tuning.schedulers import SuccessiveHalving, bracket_size, nothing_to_compare, rungs
from tests.helpers import SPACES


@pytest.mark.parametrize("first, factor, epochs, expected", [
    (1, 3, 8, [1, 3]), (2, 2, 20, [2, 4, 8, 16]), (1, 2, 4, [1, 2]), (3, 2, 3, []), (1, 9, 8, [1]),
])
def test_rungs_lie_below_the_last_epoch(first, factor, epochs, expected):
    assert rungs(first, factor, epochs) == expected


@pytest.mark.parametrize("trials, factor, halvings, expected", [
    (9, 3, 2, 9),    # the report's 3 x 3 grid: one bracket, 3 go on from rung 1, 1 from rung 3
    (12, 3, 2, 6),   # two even brackets, not 9 + a last one of 3 that would keep them all
    (8, 2, 4, 8),    # fewer trials than the largest bracket: one bracket of them all
    (40, 2, 4, 14),  # three brackets of at most 16
])
def test_brackets_split_the_trials_evenly(trials, factor, halvings, expected):
    assert bracket_size(trials, factor, halvings) == expected


def brackets(scheduler) -> list[tuple[int, int, dict]]:
    """(size, first rung, trials by status) of each bracket, from Tune's own progress text."""
    found = re.findall(r"Bracket\(Max Size \(n\)=(\d+), Milestone \(r\)=(\d+), [^)]*\): \{([^}]*)\}",
                       scheduler.debug_string())
    return [(int(n), int(r), dict(item.split(": ") for item in counts.split(", ") if item)) for n, r, counts in found]


def stub_trial(status: str = Trial.PENDING) -> Trial:
    trial = Trial("train_trial", stub=True)
    trial.set_status(status)
    return trial


def test_every_bracket_is_the_most_aggressive_one_and_ended_trials_get_none():
    scheduler = SuccessiveHalving(epochs=8, first_rung=1, reduction_factor=3, trials=18)
    scheduler.set_search_properties("val_loss", "min")
    for _ in range(18):
        scheduler.on_trial_add(None, stub_trial())
    # A resumed search hands Tune its ended trials again: they get no seat in a bracket.
    scheduler.on_trial_add(None, stub_trial(Trial.TERMINATED))
    scheduler.on_trial_add(None, stub_trial(Trial.ERROR))
    assert brackets(scheduler) == [(9, 1, {"PENDING": "9"}), (9, 1, {"PENDING": "9"})]
    assert scheduler.rungs == [1, 3]


def test_the_bracket_shape_is_set_on_rays_own_scheduler():
    scheduler = HyperBandForBOHB(time_attr="epoch", max_t=20, reduction_factor=2)
    use_one_bracket_shape(scheduler, halvings=4, first_rung=2, trials_per_bracket=8)
    scheduler.set_search_properties("val_acc", "max")
    for _ in range(9):
        scheduler.on_trial_add(None, stub_trial())
    assert [(n, r) for n, r, _ in brackets(scheduler)] == [(8, 2), (8, 2)]


def test_a_renamed_bracket_attribute_is_named():
    scheduler = HyperBandForBOHB(time_attr="epoch", max_t=8, reduction_factor=3)
    del scheduler._get_n0  # as if a Ray release renamed it
    with pytest.raises(RayInternalsChanged, match=r"HyperBandForBOHB has no attribute '_get_n0'"):
        use_one_bracket_shape(scheduler, halvings=2, first_rung=1, trials_per_bracket=9)


SPACE = {"model": {"hidden_size": tune.choice([8, 16, 32, 64])}, "train": {"lr": tune.loguniform(1e-4, 1e-2)}}


def test_only_running_trials_count_against_max_concurrent():
    searcher = NoRepeats(OptunaSearch(sampler=optuna.samplers.TPESampler(seed=0)))
    assert searcher.set_search_properties("val_loss", "min", SPACE)
    assert searcher.set_max_concurrency(2)  # Tune's ConcurrencyLimiter then leaves it the counting
    assert searcher.suggest("t0") and searcher.suggest("t1")
    assert searcher.suggest("t2") is None  # two running
    searcher.on_pause("t0")  # waits at a rung: its slot goes to a new trial
    assert searcher.suggest("t2")
    searcher.on_unpause("t0")  # promoted: running again
    assert searcher.suggest("t3") is None
    searcher.on_trial_complete("t1", {"val_loss": 0.5})
    assert searcher.suggest("t3") is None  # t0 and t2 run
    searcher.on_pause("t2")
    state = searcher.get_state()
    restored = NoRepeats(OptunaSearch(sampler=optuna.samplers.TPESampler(seed=0)))
    restored.set_state(state)
    # A resumed search runs its paused trials again: they count as running.
    assert restored.running == {"t0", "t2"} and restored.max_concurrent == 2


def spec_with(**search) -> dict:
    return {"name": "x", "task": "electricity", "model": {"name": "simple_rnn"}, "train": {"epochs": 8},
            "search": search, "space": {"train.lr": {"loguniform": [1e-4, 1e-2]}}}


@pytest.mark.parametrize("search, expected", [
    ({"scheduler": {"name": "asha", "grace_period": 1, "reduction_factor": 3}, "num_samples": 12}, None),
    ({"scheduler": {"name": "asha", "grace_period": 1, "reduction_factor": 3}, "num_samples": 6},
     "the first 2 trials (max_concurrent) reach every rung with nothing to compare them with"),
    ({"scheduler": {"name": "successive_halving", "reduction_factor": 3}, "num_samples": 6}, None),
    ({"scheduler": {"name": "successive_halving", "reduction_factor": 3}, "num_samples": 1},
     "a search of 1 trial has nothing to compare"),
    ({"scheduler": {"name": "successive_halving", "grace_period": 8}, "num_samples": 9},
     "its first rung (grace_period 8) is not below train.epochs 8"),
    ({"scheduler": {"name": "none"}, "num_samples": 1}, None),
])
def test_a_scheduler_with_nothing_to_compare_is_named(search, expected):
    spec = validate_spec(spec_with(**search))
    message = nothing_to_compare(spec, spec.search.num_samples)
    if expected is None:
        assert message is None
    else:
        assert message.startswith(f"search.scheduler {spec.search.scheduler.name}: ") and expected in message
        assert "\n" not in message


def test_the_shipped_spaces_leave_their_scheduler_something_to_compare():
    for path in sorted(SPACES.glob("*.yaml")):
        spec = load_spec(path)
        assert nothing_to_compare(spec, spec.search.num_samples) is None, path.name


@pytest.mark.parametrize("search, expected", [
    ({"algorithm": "random", "scheduler": {"name": "successive_halving"}},
     "search.scheduler.name: successive_halving needs search.algorithm optuna (got random)"),
    ({"scheduler": {"name": "successive_halving", "reduction_factor": 2.5}},
     "search.scheduler.reduction_factor: successive_halving takes a whole number (got 2.5)"),
    ({"scheduler": {"name": "successive_halving", "grace_period": 9}},
     "search.scheduler.grace_period: 9 is above train.epochs 8"),
    ({"reevaluate": {"top_k": 2, "seeds": 1}}, "search.reevaluate.seeds: Input should be greater than or equal to 2"),
    ({"reevaluate": {"top_k": 0}}, "search.reevaluate.top_k: Input should be greater than or equal to 1"),
    ({"reevaluate": {"top": 2}}, "search.reevaluate.top: unknown key"),
])
def test_bad_scheduler_and_reevaluation_settings_are_one_clear_line(search, expected):
    with pytest.raises(SpecError) as refused:
        validate_spec(spec_with(**search), source="space.yaml")
    assert str(refused.value).startswith(f"space.yaml: {expected}"), str(refused.value)


def test_smoke_shrinks_a_reevaluation_too():
    from search.api import resolve_spec

    raw = spec_with(reevaluate={"top_k": 3, "seeds": 3}, num_samples=12)
    spec, _ = resolve_spec(raw, "space.yaml", [], smoke=True)
    assert (spec.search.reevaluate.top_k, spec.search.reevaluate.seeds) == (2, 2)
    assert spec.search.num_samples == 4 and spec.train.epochs == 2
    spec, _ = resolve_spec(spec_with(num_samples=12), "space.yaml", [], smoke=True)
    assert spec.search.reevaluate is None
