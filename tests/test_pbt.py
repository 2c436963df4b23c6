"""Population-based training: which keys may mutate, perturbed values kept in the space, the
hyperparameters changed under a running trial, and its weights' lineage and replay."""

from __future__ import annotations

import pytest
import torch
from ray import tune

from search.errors import SpecError
from search.space.mutations import mutation_keys
from search.space.validation import validate_spec
from search.trial.training import Trial
from search.tuning.pbt import hyperparam_mutations, keep_in_space
from search.tuning.pbt_schedule import (
    LINEAGE,
    OWNER,
    PBT_KEY,
    ScheduleKeeper,
    read_schedule_csv,
    replay_config,
    schedule_csv,
    schedule_rows,
)
from tests.helpers import make_trial

SPACE = {"train.lr": {"loguniform": [1e-4, 1e-2]}, "train.weight_decay": {"choice": [0.0, 1e-5, 1e-4]},
         "train.momentum": {"uniform": [0.5, 0.99]}, "train.batch_size": {"randint": [16, 64]},
         "train.optimizer": {"choice": ["sgd", "rmsprop"]}, "train.epochs": {"choice": [4, 6]},
         "model.dropout": {"uniform": [0.0, 0.3]}, "model.hidden_size": {"choice": [8, 16]},
         "model.num_layers": {"choice": [2, 3]}, "data.lookback": {"choice": [12, 24]}}


SMALL = ["model.hidden_size=8", "train.batch_size=512"]  # a trial of seconds


def spec_with(scheduler=None, space=None, train=None, algorithm="random"):
    return {"name": "x", "task": "electricity", "model": {"name": "simple_rnn", "hidden_size": 8, "num_layers": 2},
            "train": {"epochs": 4, "optimizer": "sgd", **(train or {})},
            "search": {"algorithm": algorithm, "scheduler": {"name": "pbt", **(scheduler or {})}},
            "space": SPACE if space is None else space}


def test_by_default_the_numeric_train_keys_a_running_trial_can_take_mutate():
    spec = validate_spec(spec_with())
    assert mutation_keys(spec) == ["train.lr", "train.weight_decay", "train.momentum", "train.batch_size"]
    mutations = hyperparam_mutations(spec)
    assert mutations["train"]["weight_decay"] == [0.0, 1e-5, 1e-4]  # a choice: Ray moves to a neighbour
    assert isinstance(mutations["train"]["lr"], tune.search.sample.Float)
    assert isinstance(mutations["train"]["batch_size"], tune.search.sample.Integer)


M = "search.scheduler.mutate: "


@pytest.mark.parametrize("edit, expected", [
    ({"scheduler": {"mutate": ["model.hidden_size"]}}, "search.scheduler.mutate: model.hidden_size cannot mutate: "
     "it changes the network's shape (its parameters differ between hidden_size 8 and 16)"),
    ({"scheduler": {"mutate": ["model.num_layers"]}}, M + "model.num_layers cannot mutate: it changes the network's"),
    ({"scheduler": {"mutate": ["train.optimizer"]}}, M + "train.optimizer cannot mutate: it is the optimizer's kind"),
    ({"scheduler": {"mutate": ["train.epochs"]}}, M + "train.epochs cannot mutate: it is fixed for a trial's"),
    ({"scheduler": {"mutate": ["data.lookback"]}}, M + "data.lookback cannot mutate: a trial's data is prepared once"),
    ({"scheduler": {"mutate": ["train.grad_clip"]}}, M + "train.grad_clip cannot mutate: it is not a dimension"),
    ({"train": {"lr_schedule": "cosine"}}, M + "train.lr cannot mutate: a learning-rate schedule"),
    ({"train": {"warmup_fraction": 0.25}}, M + "train.lr cannot mutate: a learning-rate schedule"),
    ({"space": {"train.optimizer": {"choice": ["sgd", "adam"]}}}, "search.scheduler.mutate: the space has no numeric "
     "dimension among train.lr, train.weight_decay, train.momentum, train.grad_clip, train.batch_size"),
    ({"algorithm": "optuna"}, "search.algorithm: pbt takes random or grid (its population is drawn by Ray's variant "
     "generator): Ray Tune's PopulationBasedTraining refuses a search algorithm beside it"),
    ({"scheduler": {"perturbation_interval": 4}}, "search.scheduler.perturbation_interval: 4 is not below "
     "train.epochs 4"),
    ({"scheduler": {"grace_period": 2}}, "search.scheduler.grace_period: a setting of asha and successive_halving, "
     "not of pbt"),
    ({"scheduler": {"quantile": 0.6}}, "search.scheduler.quantile: Input should be less than or equal to 0.5"),
    ({"space": {**SPACE, "train.momentum": {"uniform": [0.5, 0.99], "when": {"train.optimizer": ["sgd"]}}}},
     "space.train.momentum.when: pbt draws its population with Ray's variant generator, which takes no conditional"),
])
def test_a_key_pbt_cannot_mutate_is_refused_naming_it(edit, expected):
    with pytest.raises(SpecError) as refused:
        validate_spec(spec_with(**edit), source="space.yaml")
    assert str(refused.value).startswith(f"space.yaml: {expected}"), str(refused.value)


def test_pbt_settings_under_another_scheduler_are_refused():
    raw = spec_with()
    raw["search"]["scheduler"] = {"name": "asha", "mutate": ["train.lr"]}
    with pytest.raises(SpecError, match="search.scheduler.mutate: a setting of pbt, not of asha"):
        validate_spec(raw)


def test_a_model_option_that_keeps_every_shape_may_mutate():
    spec = validate_spec(spec_with(scheduler={"mutate": ["model.dropout", "train.lr"]}))
    assert mutation_keys(spec) == ["model.dropout", "train.lr"]
    written = spec.model_dump()["search"]["scheduler"]  # written back with pbt's own settings only
    assert "grace_period" not in written and written["mutate"] == ["model.dropout", "train.lr"]


def test_a_perturbed_value_stays_inside_its_dimension():
    spec = validate_spec(spec_with(space={**SPACE, "train.grad_clip": {"quniform": [0.5, 2.0, 0.5]}},
                                   scheduler={"mutate": ["train.lr", "train.momentum", "train.batch_size",
                                                         "train.grad_clip"]}))
    explore = keep_in_space(spec)
    config = {"train": {"lr": 0.012, "momentum": 1.188, "batch_size": 76.8, "grad_clip": 2.4}}
    assert explore(config)["train"] == {"lr": 0.01, "momentum": 0.99, "batch_size": 64, "grad_clip": 2.0}
    config = {"train": {"lr": 0.005, "momentum": 0.4, "batch_size": 19.2, "grad_clip": 0.6}}
    assert explore(config)["train"] == {"lr": 0.005, "momentum": 0.5, "batch_size": 19, "grad_clip": 0.5}


# --- under a running trial -----------------------------------------------------------------------

def test_new_values_go_onto_the_optimizer_and_its_state_stays():
    trial = make_trial("rnn_units.yaml", [*SMALL, "train.optimizer=adam", "train.epochs=1"], smoke=True)
    list(trial.epochs())
    moments = [s["exp_avg"].clone() for s in trial.state.optimizer.state.values()]
    trial.set_hyperparameters({"train.lr": 0.02, "train.weight_decay": 1e-4, "train.batch_size": 32})
    assert {(g["lr"], g["weight_decay"]) for g in trial.state.optimizer.param_groups} == {(0.02, 1e-4)}
    assert (trial.train_settings.lr, trial.train_settings.batch_size) == (0.02, 32)
    kept = [s["exp_avg"] for s in trial.state.optimizer.state.values()]
    assert all(torch.equal(a, b) for a, b in zip(moments, kept)) and len(kept) == len(moments)


def test_a_model_option_is_changed_around_the_same_weights():
    trial = make_trial("rnn_units.yaml", [*SMALL, "model.num_layers=2", "train.epochs=1", "train.lr=0.003"], smoke=True)
    list(trial.epochs())
    weights = {k: v.clone() for k, v in trial.state.model.state_dict().items()}
    trial.set_hyperparameters({"model.dropout": 0.2, "train.lr": 0.007})
    assert trial.model_options["dropout"] == 0.2 and trial.state.model.dropout.p == 0.2
    assert all(torch.equal(weights[k], v) for k, v in trial.state.model.state_dict().items())
    assert trial.state.optimizer.param_groups[0]["lr"] == 0.007  # set after the optimizer's state came back
    assert trial.state.optimizer.state and trial.state.epoch == 1


def test_an_exploit_continues_anothers_weights_from_the_trials_own_epoch():
    source = make_trial("rnn_units.yaml", [*SMALL, "train.epochs=6"], smoke=True)
    donor = ScheduleKeeper({**_config(source), }, ["train.lr"], "t-good")
    for _ in range(3):  # three epochs of the good trial
        metrics = next(iter(source.epochs()))
        donor.after_epoch(source, metrics)
    saved = {**source.state.state_dict(), **donor.saved()}
    assert [row["trial"] for row in saved[LINEAGE]] == ["t-good"] * 3

    exploited = make_trial("rnn_units.yaml", [*SMALL, "train.epochs=6"], smoke=True)
    config = {**_config(exploited), "train": {**_config(exploited)["train"], "lr": 0.0042},
              PBT_KEY: {"exploits": 1, "source": "t-good", "trial_epoch": 2}}
    keeper = ScheduleKeeper(config, ["train.lr"], "t-bad")
    exploited.state.load_state_dict(saved)
    assert keeper.continue_from(saved, exploited) is False  # another trial's checkpoint
    assert exploited.state.epoch == 2  # its own count: its run goes on at epoch 3, no gap, no repeat
    assert exploited.state.optimizer.param_groups[0]["lr"] == 0.0042
    metrics = next(iter(exploited.epochs()))
    keeper.after_epoch(exploited, metrics)
    assert metrics["epoch"] == 3 and metrics["train.lr"] == 0.0042 and metrics["pbt_exploits"] == 1
    assert [(r["epoch"], r["trial"], r["trial_epoch"], r["from_trial"]) for r in keeper.lineage] == [
        (1, "t-good", 1, "t-good"), (2, "t-good", 2, "t-good"), (3, "t-good", 3, "t-good"), (4, "t-bad", 3, "t-good")]
    assert keeper.saved()[OWNER] == "t-bad"


def test_a_schedule_is_replayed_epoch_by_epoch():
    lineage = [{"epoch": 1, "trial": "a", "trial_epoch": 1, "from_trial": "a", "train.lr": 0.01},
               {"epoch": 2, "trial": "b", "trial_epoch": 2, "from_trial": "a", "train.lr": 0.002}]
    source = make_trial("rnn_units.yaml", [*SMALL, "train.epochs=3"], smoke=True)
    config = replay_config({**_config(source), PBT_KEY: {"exploits": 2, "source": "a", "trial_epoch": 1}}, lineage)
    assert schedule_rows(config) == lineage and config["train"]["lr"] == 0.01
    assert set(config[PBT_KEY]) == {"schedule"}  # the exploits' bookkeeping left out
    # Any trainer of the config (a re-evaluation's worker, a refit) follows the schedule.
    trial = Trial(source.task, source.splits, {**config, "data": {}})
    keeper = ScheduleKeeper(config, ["train.lr"], "replay")
    rates = []
    for metrics in trial.epochs():
        rates.append(metrics["lr"])
        keeper.after_epoch(trial, metrics)
        assert "pbt_exploits" not in metrics  # a replay is no member of a population
    assert rates == [0.01, 0.002, 0.002]  # after the schedule's last row its values stay
    assert [row["train.lr"] for row in keeper.lineage] == rates
    assert read_schedule_csv(schedule_csv(lineage)) == lineage


def _config(trial) -> dict:
    return {"data": {}, "model": dict(trial.model_options), "train": trial.train_settings.model_dump()}


def test_a_population_says_what_it_cannot_do():
    from search.tuning.schedulers import nothing_to_compare

    spec = validate_spec(spec_with())
    assert nothing_to_compare(spec, 8) is None
    assert "a population of 1 trial has nobody to exploit" in nothing_to_compare(spec, 1)
    raw = spec_with()
    raw["search"]["max_concurrent"] = 2
    message = nothing_to_compare(validate_spec(raw), 8)
    assert "takes turns on the cluster" in message and "search.max_concurrent does not apply" in message


def test_a_result_is_known_by_its_own_reports_not_its_last_result():
    import pandas as pd
    from ray.tune import Result

    from search.tuning.evaluate import trial_id_of

    # Exploited at its last epoch: Tune ends the trial with the copied trial's result as its last.
    exploited = Result(metrics={"trial_id": "good", "epoch": 5}, checkpoint=None, error=None, path="/r/bad",
                       metrics_dataframe=pd.DataFrame({"trial_id": ["bad"] * 6, "epoch": range(1, 7)}))
    assert trial_id_of(exploited) == "bad"
    never_reported = Result(metrics={"trial_id": "quiet"}, checkpoint=None, error=None, path="/r/quiet")
    assert trial_id_of(never_reported) == "quiet"


def test_a_resumed_trials_earlier_epoch_gets_its_lineage_from_a_later_one():
    from search.tuning.pbt_schedule import lineage_at

    lineage = [{"epoch": n, "trial": "t", "trial_epoch": n, "from_trial": "t", "train.lr": 0.01} for n in (1, 2, 3, 4)]
    # Epochs 1-2 read back from MLflow after a resume (no lineage); 4 reported since, with its lineage.
    history = [{"epoch": 1, "pbt_exploits": 0}, {"epoch": 2, "pbt_exploits": 0},
               {"epoch": 4, "pbt_exploits": 0, LINEAGE: lineage}]
    assert lineage_at(history, history[1]) == lineage[:2]
    assert lineage_at(history, history[2]) == lineage
    history[2]["pbt_exploits"] = 1  # an exploit in between: epoch 2's weights are not in that lineage
    assert lineage_at(history, history[1]) is None
