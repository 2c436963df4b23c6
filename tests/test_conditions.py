"""Conditional dimensions (`when:`): refused where wrong, sampled only where active, and
recorded and compared only where active."""

from __future__ import annotations

import math
import warnings

import optuna
import pytest
from mlflow.tracking import MlflowClient
from ray.tune.search.optuna import OptunaSearch

from search import record
from search.compare.importance import param_importances
from search.compare.plots import parallel_coordinates_png
from search.compare.store import load_searches
from search.errors import SpecError
from search.run import main
from search.space import conditions
from search.space.domains import DefineByRun, param_space
from search.space.dotted import flatten, sampled_values
from search.space.validation import load_spec
from search.space.variants import conditional_variants, trial_count
from search.tracking.tracker import trial_params
from tests.helpers import SPACES, search_and_trial_runs, write_space

# Momentum for SGD and RMSprop only; nesterov-style chain: a learning-rate decay factor only
# for SGD trials that use momentum 0.9.
CONDITIONAL = """\
name: cond
task: electricity
data: {lookback: 12}
model: {name: simple_rnn, hidden_size: 8, num_layers: 1}
train: {epochs: 1, batch_size: 256, optimizer: adam, patience: null}
search:
  algorithm: grid
  num_samples: 1
  max_concurrent: 2
  scheduler: {name: none}
space:
  train.optimizer: {choice: [adam, sgd, rmsprop]}
  train.momentum: {choice: [0.5, 0.9], when: {train.optimizer: [sgd, rmsprop]}}
"""

MOMENTUM = "space.train.momentum={uniform: [0.5, 0.99], when: {train.optimizer: [sgd, rmsprop]}}"


def conditional_spec(tmp_path, overrides=()):
    return load_spec(write_space(tmp_path, CONDITIONAL), list(overrides))


# --- refusals ------------------------------------------------------------------------------
@pytest.mark.parametrize("when, expected", [
    ("{train.optimiser: [sgd]}", "space.train.momentum.when: train.optimiser is not a dimension of this space "
                                 "(a condition names a choice dimension of the same space: train.optimizer"),
    ("{train.lr: [0.001]}", "space.train.momentum.when: train.lr is a loguniform dimension; a condition names a "
                            "choice (or grid) dimension"),
    ("{train.optimizer: [lbfgs]}", "space.train.momentum.when.train.optimizer: 'lbfgs' is not among its choices "
                                   "['adam', 'sgd', 'rmsprop']"),
    ("{train.optimizer: sgd}", "space.train.momentum.when.train.optimizer: Input should be a valid list"),
    ("{}", "space.train.momentum: when needs at least one condition"),
    ("{train.optimizer: []}", "space.train.momentum: when.train.optimizer needs at least one value"),
    ("{train.momentum: [0.9]}", "space.train.momentum.when: train.momentum cannot depend on itself"),
])
def test_a_wrong_condition_is_refused_naming_it(tmp_path, capsys, when, expected):
    path = write_space(tmp_path, CONDITIONAL.replace("search:", "search:\n  algorithm: optuna", 1).replace(
        "  algorithm: grid\n", ""))
    overrides = ["--set", "space.train.lr={loguniform: [1.0e-4, 1.0e-2]}",
                 "--set", f"space.train.momentum={{uniform: [0.5, 0.99], when: {when}}}"]
    assert main([str(path), "--dry-run", *overrides]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["space.yaml"]  # nothing started, nothing written


def test_a_cycle_of_conditions_is_refused(tmp_path):
    cycle = ["space.model.hidden_size={choice: [8, 16], when: {train.batch_size: [128]}}",
             "space.train.batch_size={choice: [128, 256], when: {model.hidden_size: [16]}}"]
    with pytest.raises(SpecError, match=r"conditions form a cycle: model.hidden_size -> train.batch_size -> "
                                        r"model.hidden_size"):
        conditional_spec(tmp_path, cycle)


def test_set_reaches_a_dimensions_when(tmp_path):
    spec = conditional_spec(tmp_path, ["space.train.momentum.when={train.optimizer: [sgd]}"])
    assert spec.space["train.momentum"].when == {"train.optimizer": ["sgd"]}
    assert spec.space["train.momentum"].kind == "choice"


def test_a_conditional_value_is_checked_where_it_is_active(tmp_path):
    # warmup_fraction 0.99 of 10 epochs leaves no epoch after the warm-up, except under onecycle,
    # where it is a share of the steps: valid only because its condition holds.
    onecycle = ["train.epochs=10", "space.train.lr_schedule={choice: [none, onecycle]}",
                "space.train.warmup_fraction={choice: [0.3, 0.99], when: {train.lr_schedule: [onecycle]}}"]
    assert conditional_spec(tmp_path, onecycle).space["train.warmup_fraction"].args == [0.3, 0.99]
    with pytest.raises(SpecError, match="space.train.warmup_fraction: value 0.99 is not allowed"):
        conditional_spec(tmp_path, [*onecycle[:2], "space.train.warmup_fraction={choice: [0.3, 0.99]}"])


# --- how many trials, which values -----------------------------------------------------------
def test_grid_enumerates_only_the_active_combinations(tmp_path, capsys):
    spec = conditional_spec(tmp_path, ["search.num_samples=2"])
    combos = [flatten(values) for values in conditional_variants(spec)]
    assert trial_count(spec) == len(combos) == 10  # (adam, sgd x 2, rmsprop x 2) twice
    assert {"train.optimizer": "adam"} in combos and {"train.optimizer": "adam", "train.momentum": 0.5} not in combos
    assert main([str(write_space(tmp_path, CONDITIONAL)), "--dry-run"]) == 0
    assert "at most 5 trials x 1 epochs = 5 trial-epochs (the grid: 5 active combinations of the 6 in its product)" \
        in capsys.readouterr().out


def test_chained_conditions_count_and_hold_down_the_chain(tmp_path):
    chain = ["space.train.batch_size={choice: [128, 256], when: {train.momentum: [0.9]}}"]
    spec = conditional_spec(tmp_path, chain)
    combos = list(conditional_variants(spec))
    # adam; sgd and rmsprop each with 0.5, or 0.9 and two batch sizes
    assert trial_count(spec) == len(combos) == conditions.count_grid(spec.space) == 7
    for values in combos:
        assert ("train.batch_size" in values) == (values.get("train.momentum") == 0.9)
        assert ("train.momentum" in values) == (values["train.optimizer"] != "adam")


def test_random_draws_only_active_dimensions_seeded(tmp_path):
    spec = conditional_spec(tmp_path, ["search.algorithm=random", "search.num_samples=30", MOMENTUM])
    draws = list(conditional_variants(spec))
    assert len(draws) == trial_count(spec) == 30
    assert draws == list(conditional_variants(spec))  # the same seed, the same trials
    for values in draws:
        assert ("train.momentum" in values) == (values["train.optimizer"] in ("sgd", "rmsprop"))
        if "train.momentum" in values:
            assert 0.5 <= values["train.momentum"] <= 0.99
    assert {values["train.optimizer"] for values in draws} == {"adam", "sgd", "rmsprop"}


def test_random_enumerates_its_grid_dimensions_per_draw_where_active(tmp_path):
    # A grid dimension under random search is enumerated for every draw, only where active:
    # here only in draws of SGD or RMSprop, so the count hangs on the seeded draws.
    grid = "space.train.momentum={grid: [0.5, 0.9], when: {train.optimizer: [sgd, rmsprop]}}"
    spec = conditional_spec(tmp_path, ["search.algorithm=random", "search.num_samples=12", grid])
    made = list(conditional_variants(spec))
    adam = sum(values["train.optimizer"] == "adam" for values in made)
    assert trial_count(spec) == len(made) == adam + 2 * (12 - adam) and 0 < adam < 12
    assert all(("train.momentum" in values) == (values["train.optimizer"] != "adam") for values in made)


def suggestions(searcher, count: int, score) -> list[dict]:
    made = []
    for index in range(count):
        config = flatten(searcher.suggest(str(index)))
        made.append(config)
        searcher.on_trial_complete(str(index), {"val_loss": score(config), "training_iteration": 1})
    return made


def test_optuna_suggests_a_conditional_dimension_only_where_active(tmp_path):
    spec = conditional_spec(tmp_path, ["search.algorithm=optuna", "search.num_samples=20", MOMENTUM,
                                       "space.train.lr={loguniform: [1.0e-4, 1.0e-2]}"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=0, multivariate=True, group=True)
    searcher = OptunaSearch(space=DefineByRun(spec), metric="val_loss", mode="min", sampler=sampler)
    made = suggestions(searcher, 20, lambda c: math.log(c["train.lr"]) + c.get("train.momentum", 0.0))
    for config in made:  # past Optuna's 10 random start-up trials too, where TPE proposes
        assert ("train.momentum" in config) == (config["train.optimizer"] in ("sgd", "rmsprop"))
    assert any("train.momentum" in c for c in made) and any("train.momentum" not in c for c in made)


def test_a_space_without_conditions_draws_what_it_drew_before(tmp_path):
    # Before `when:`, OptunaSearch converted the Tuner's param space itself: the define-by-run
    # space must propose the very same trials, TPE's too, so seeded searches stay as they were.
    spec = load_spec(SPACES / "bilstm_sentiment.yaml")
    converted = OptunaSearch(metric="val_acc", mode="max",
                             sampler=optuna.samplers.TPESampler(seed=3, multivariate=True))
    converted.set_search_properties("val_acc", "max", param_space(spec))
    define_by_run = OptunaSearch(space=DefineByRun(spec), metric="val_acc", mode="max",
                                 sampler=optuna.samplers.TPESampler(seed=3, multivariate=True))

    def score(config):
        return -math.log(config["train.lr"]) + config["model.dropout"]

    assert suggestions(define_by_run, 14, score) == suggestions(converted, 14, score)


def test_an_inactive_key_is_no_param_and_a_blank_value(tmp_path):
    spec = conditional_spec(tmp_path)
    adam, sgd = spec.base_config(), spec.base_config()
    sgd["train"].update(optimizer="sgd", momentum=0.5)
    assert "train.momentum" not in trial_params(spec, adam)
    assert trial_params(spec, adam)["train.optimizer"] == "adam" and trial_params(spec, adam)["train.lr"] == 0.001
    assert trial_params(spec, sgd)["train.momentum"] == 0.5
    assert sampled_values(spec, adam) == {"train.optimizer": "adam", "train.momentum": None}
    assert sampled_values(spec, sgd) == {"train.optimizer": "sgd", "train.momentum": 0.5}


# --- compare: only where active ----------------------------------------------------------------
def test_compare_measures_a_conditional_key_where_it_was_active(tmp_path):
    from tests.test_compare import log_search

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    space = {"train.optimizer": record.space_param("choice", ["adam", "sgd"]),
             "train.lr": record.space_param("loguniform", [0.0001, 0.1]),
             "train.momentum": record.space_param("uniform", [0.5, 0.99], {"train.optimizer": ["sgd"]})}
    trials = []
    for index, (optimizer, lr, momentum) in enumerate([
            ("adam", "0.001", None), ("adam", "0.01", None), ("adam", "0.0003", None), ("sgd", "0.01", "0.9"),
            ("sgd", "0.05", "0.6"), ("sgd", "0.02", "0.95"), ("sgd", "0.003", "0.7"), ("adam", "0.03", None)]):
        values = {"train.optimizer": optimizer, "train.lr": lr, **({"train.momentum": momentum} if momentum else {})}
        loss = float(lr) * 10 + (1 - float(momentum or 0.9)) + (0.3 if optimizer == "sgd" else 0.0)
        trials.append((f"cccc000{index}", "finished", values, {"val_loss": [loss + 0.1, loss]}))
    log_search(client, "cond", "regression", "name: cond\n", space, trials, {})
    [search] = load_searches(client, client.get_experiment_by_name("cond"))
    assert search.conditions == {"train.momentum": {"train.optimizer": ["sgd"]}}

    importances, why = param_importances(search)
    assert why == "" and set(importances.values) == {"train.optimizer", "train.lr", "train.momentum"}
    assert importances.trials == {"train.optimizer": 8, "train.lr": 8, "train.momentum": 4}
    assert parallel_coordinates_png(search)[:8] == b"\x89PNG\r\n\x1a\n"


# --- end to end ----------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["optuna", "random", "grid"])
def test_each_searcher_samples_a_conditional_dimension_only_where_active(workdir, local_ray, algorithm, capsys):
    uri = f"sqlite:///{workdir}/mlflow.db"
    path = write_space(workdir, CONDITIONAL)
    settings = ["--set", f"search.algorithm={algorithm}", "--tracking-uri", uri]
    if algorithm != "grid":
        settings += ["--set", MOMENTUM, "--num-samples", "5"]
    assert main([str(path), *settings]) == 0
    out = capsys.readouterr().out

    client = MlflowClient(tracking_uri=uri)
    [search], trials = search_and_trial_runs(client, "cond")
    assert search.info.status == "FINISHED" and len(trials) == 5
    assert record.read_space_when(search.data.params["space.train.momentum"]) == {
        "train.optimizer": ["sgd", "rmsprop"]}
    for trial in trials:
        params = trial.data.params
        assert ("train.momentum" in params) == (params["train.optimizer"] in ("sgd", "rmsprop")), params
        assert "train.epochs" in params  # every other key is there
    if algorithm == "grid":  # every active combination once: adam, and sgd and rmsprop at 0.5 and 0.9
        assert sorted((t.data.params["train.optimizer"], t.data.params.get("train.momentum")) for t in trials) == [
            ("adam", None), ("rmsprop", "0.5"), ("rmsprop", "0.9"), ("sgd", "0.5"), ("sgd", "0.9")]
    best = search.data.params["best.train.optimizer"]
    assert ("best.train.momentum" in search.data.params) == (best != "adam")
    table = out[out.index("trials in"):out.index("Best trial")]
    assert "NaN" not in table and "None" not in table  # an inactive key is a blank cell
