"""Several objectives: the spec's rules, the Pareto front, the member exported, and what Optuna is told."""

from __future__ import annotations

import numpy as np
import pytest
from ray import tune
from ray.tune.search.optuna import OptunaSearch

from search.errors import SpecError
from search.run import main
from search.space.validation import validate_spec
from search.tuning.objective_feedback import ObjectiveFeedback
from search.tuning.pareto import non_dominated, select
from tests.helpers import write_space

TWO = [{"metric": "val_loss", "mode": "min"}, {"metric": "params", "mode": "min"}]


def spec_with(**search) -> dict:
    return {"name": "x", "task": "electricity", "model": {"name": "simple_rnn"}, "train": {"epochs": 4},
            "search": search, "space": {"model.hidden_size": {"choice": [8, 16]}}}


# --- the front and the member exported ---------------------------------------------------------

def test_the_front_is_the_rows_no_other_row_dominates():
    values = np.array([[0.10, 900], [0.20, 100], [0.15, 950], [0.10, 900], [0.30, 100], [0.12, 500]])
    assert non_dominated(values, ["min", "min"]).tolist() == [True, True, False, True, False, True]
    # Maximised accuracy against minimised size: the same trials, the first column mirrored.
    accuracy = np.column_stack([1 - values[:, 0], values[:, 1]])
    assert non_dominated(accuracy, ["max", "min"]).tolist() == [True, True, False, True, False, True]
    assert non_dominated(np.zeros((0, 2)), ["min", "min"]).tolist() == []
    three = np.array([[1, 1, 9], [1, 9, 1], [9, 1, 1], [2, 2, 9], [1, 1, 9.5]])
    assert non_dominated(three, ["min"] * 3).tolist() == [True, True, True, False, False]


FRONT = {"a": [0.100, 900.0], "b": [0.101, 400.0], "c": [0.103, 200.0], "d": [0.200, 50.0]}


@pytest.mark.parametrize("objective, within, expected", [
    (None, 0.0, "a"),  # the default: the best on the first objective
    ("val_loss", 0.02, "b"),  # within 2% of 0.100: a and b; b is the cheaper
    ("val_loss", 0.05, "c"),
    ("val_loss", 1.5, "d"),
    ("params", 0.0, "d"),  # the best on params
    ("params", 4.0, "c"),  # params within 400% of 50 (<= 250): c and d; c has the lower val_loss
])
def test_the_member_exported_follows_the_stated_rule(objective, within, expected):
    assert select(FRONT, ["val_loss", "params"], ["min", "min"], objective, within) == expected


def test_within_reads_a_maximised_objective_downwards():
    members = {"a": [0.80, 900.0], "b": [0.79, 300.0], "c": [0.70, 100.0]}
    assert select(members, ["val_acc", "params"], ["max", "min"], "val_acc", 0.02) == "b"


# --- the spec ------------------------------------------------------------------------------------

def test_one_objective_is_metric_and_mode():
    spec = validate_spec(spec_with(objectives=[{"metric": "val_mae", "mode": "min"}]))
    assert (spec.search.metric, spec.search.mode, spec.search.objectives) == ("val_mae", "min", None)


def test_several_objectives_pick_each_trials_epoch_by_the_first_trained_one():
    spec = validate_spec(spec_with(objectives=[TWO[1], TWO[0]], scheduler={"name": "none"}))
    assert [o.metric for o in spec.search.objective_list] == ["params", "val_loss"]
    assert (spec.search.metric, spec.search.mode) == ("val_loss", "min")
    # Written back as given, and valid again so: objectives alone.
    written = spec.model_dump()
    assert "metric" not in written["search"] and written["search"]["objectives"][0]["metric"] == "params"
    assert validate_spec(written).search.objective_list == spec.search.objective_list


@pytest.mark.parametrize("search, expected", [
    ({"objectives": TWO, "metric": "val_loss"}, "search: objectives replace metric and mode: give one or the other"),
    ({"objectives": TWO}, "search.scheduler.metric: asha judges one metric; with several search.objectives name "
                          "the one it judges (val_loss), or set search.scheduler.name none"),
    ({"objectives": TWO, "scheduler": {"name": "successive_halving", "reduction_factor": 2}},
     "search.scheduler.metric: successive_halving judges one metric"),
    ({"objectives": TWO, "scheduler": {"name": "asha", "metric": "params"}},
     "search.scheduler.metric: 'params' is not an objective that training changes; allowed: val_loss"),
    ({"objectives": TWO, "scheduler": {"name": "none", "metric": "val_loss"}},
     "search.scheduler.metric: a scheduler of name none judges nothing"),
    ({"objectives": [TWO[1], {"metric": "latency_ms", "mode": "min"}], "scheduler": {"name": "none"}},
     "search: objectives: params, latency_ms are all costs, the same at every epoch"),
    ({"objectives": [TWO[0], {"metric": "val_acc", "mode": "max"}], "scheduler": {"name": "none"}},
     "search.objectives[1].metric: 'val_acc' is not reported by a regression task; allowed: train_loss"),
    ({"objectives": [*TWO, TWO[0]], "scheduler": {"name": "none"}}, "search: objectives: each metric once"),
    ({"objectives": [*TWO, *TWO]}, "search.objectives: List should have at most 3 items"),
    ({"objectives": TWO, "scheduler": {"name": "none"}, "select": {"objective": "latency_ms"}},
     "search.select.objective: 'latency_ms' is not an objective; allowed: val_loss, params"),
    ({"objectives": TWO, "scheduler": {"name": "none"}, "select": {"objective": "params", "within": -1}},
     "search.select.within: Input should be greater than or equal to 0"),
    ({"select": {"objective": "val_loss"}}, "search.select: picks a member of the Pareto front"),
    ({"objectives": TWO, "scheduler": {"name": "none"}, "reevaluate": {"top_k": 2}},
     "search.reevaluate: ranks configurations by one metric; with several search.objectives the Pareto front"),
    ({"metric": "params"}, "search.metric: params is a cost, the same at every epoch: use it in search.objectives"),
    ({"objectives": TWO, "scheduler": {"name": "none"}, "warm_start": {"from": "earlier"}},
     "search.warm_start: tells the searcher an earlier search's values of one metric; with several"),
])
def test_bad_objectives_are_one_clear_line(search, expected):
    with pytest.raises(SpecError) as refused:
        validate_spec(spec_with(**search), source="space.yaml")
    assert str(refused.value).startswith(f"space.yaml: {expected}"), str(refused.value)


def test_a_refused_scheduler_starts_nothing(workdir, capsys):
    path = write_space(workdir, "name: x\ntask: electricity\nmodel: {name: simple_rnn}\n"
                                "search: {objectives: [{metric: val_loss, mode: min}, {metric: params, mode: min}]}\n"
                                "space: {model.hidden_size: {choice: [8, 16]}}\n")
    assert main([str(path)]) == 2
    assert "search.scheduler.metric: asha judges one metric" in capsys.readouterr().err
    assert sorted(p.name for p in workdir.iterdir()) == ["space.yaml"]  # no mlflow.db, no ray_results


# --- what Optuna is told ---------------------------------------------------------------------------

def test_optuna_learns_each_trials_values_at_its_best_epoch():
    searcher = ObjectiveFeedback(OptunaSearch(metric=["val_loss", "params"], mode=["min", "min"]), "val_loss", "min",
                                 tell_representative=True)
    searcher.set_search_properties(None, None, {"lr": tune.loguniform(1e-4, 1e-2)})
    assert searcher.suggest("t1") is not None
    epochs = [{"epoch": 1, "val_loss": 0.5, "params": 865}, {"epoch": 2, "val_loss": 0.3, "params": 865},
              {"epoch": 3, "val_loss": 0.4, "params": 865}]
    for result in epochs:
        searcher.on_trial_result("t1", result)
    searcher.on_trial_complete("t1", result=epochs[-1])  # Tune hands over the last result
    [told] = searcher.searcher._ot_study.trials
    assert told.values == [0.3, 865]  # epoch 2's: the trial's best epoch by val_loss
    assert searcher.get_state() == {"representative": {}}
