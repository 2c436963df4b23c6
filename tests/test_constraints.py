"""search.constraints: parsed strictly, judged before training or at the trial's best epoch,
recorded on the trial's run (real MLflow store, Tune's own Trial objects), told to Optuna."""

from __future__ import annotations

import math

import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState
from ray import tune
from ray.tune.experiment import Trial
from ray.tune.search.optuna import OptunaSearch

from search import record
from search.errors import SpecError
from search.record import Status
from search.space.constraints import INFEASIBLE_RESULT, broken, parse_constraint, violations
from search.space.validation import load_spec, validate_spec
from search.tracking.tracker import Tracker, TrialLogger
from search.tuning.objective_feedback import ObjectiveFeedback
from tests.helpers import write_space


@pytest.mark.parametrize("text, metric, operator, bound", [
    ("params <= 2e6", "params", "<=", 2e6), ("latency_ms<5", "latency_ms", "<", 5.0),
    ("  val_acc >= .8 ", "val_acc", ">=", 0.8), ("val_loss > -1.5E-3", "val_loss", ">", -1.5e-3),
])
def test_a_constraint_is_a_metric_an_operator_and_a_number(text, metric, operator, bound):
    constraint = parse_constraint(text)
    assert (constraint.metric, constraint.operator, constraint.bound) == (metric, operator, bound)


@pytest.mark.parametrize("text", ["params <= ", "params == 5", "params => 5", "<= 5", "params <= 5 ms",
                                  "params <= 2e6 and latency_ms < 5", "params <= inf", 5, None])
def test_anything_else_is_refused_naming_it(text):
    with pytest.raises(ValueError, match="is not <metric> <operator> <number>|must be a finite number"):
        parse_constraint(text)


def test_violations_are_relative_to_the_bound_and_zero_when_kept():
    size, latency = parse_constraint("params <= 2e6"), parse_constraint("latency_ms < 5")
    assert size.violation(1e6) == 0 and size.violation(3e6) == pytest.approx(0.5)
    assert latency.violation(5.0) > 0  # a strict limit met exactly is broken
    values = {"params": 3e6, "latency_ms": 1.0}
    assert violations([size, latency], values) == {"params <= 2e6": pytest.approx(0.5), "latency_ms < 5": 0.0}
    assert broken([size, latency], values) == ["params <= 2e6 (params 3e+06)"]
    assert broken([size], {"params": math.nan}) == []  # not measured: not judged


def spec_with(constraints) -> dict:
    return {"name": "x", "task": "electricity", "model": {"name": "simple_rnn"},
            "search": {"constraints": constraints}, "space": {"model.hidden_size": {"choice": [8, 16]}}}


@pytest.mark.parametrize("constraints, expected", [
    (["params <= 2e6", "latency_ms <= five"], "search.constraints[1]: 'latency_ms <= five' is not <metric> "
                                              "<operator> <number> with an operator among <=, >=, <, >"),
    (["val_acc >= 0.8"], "search.constraints[0]: 'val_acc' is neither a metric a regression task reports nor a "
                         "cost; allowed: train_loss, val_loss, val_mae, val_rmse, params"),
    ("params <= 2e6", "search.constraints: Input should be a valid list"),
])
def test_bad_constraints_are_one_clear_line(constraints, expected):
    with pytest.raises(SpecError) as refused:
        validate_spec(spec_with(constraints), source="space.yaml")
    assert str(refused.value).startswith(f"space.yaml: {expected}"), str(refused.value)


# --- on the trial's run -------------------------------------------------------------------------

SPACE = """\
name: tiny
task: electricity
model: {name: simple_rnn, hidden_size: 8, num_layers: 1}
train: {epochs: 2, patience: null}
search: {constraints: ["params <= 100", "val_loss <= 0.5"], scheduler: {name: none}}
space:
  train.lr: {loguniform: [1.0e-4, 1.0e-2]}
"""


def logged_trial(workdir, results: list[dict]):
    spec = load_spec(write_space(workdir, SPACE))
    tracker = Tracker(spec, f"sqlite:///{workdir}/mlflow.db")
    tracker.start_search("", {}, {})
    logger = TrialLogger(tracker, spec)
    trial = Trial("train_trial", config=spec.base_config(), trial_id="t0001", stub=True)
    logger.on_trial_start(0, [trial], trial)
    for result in results:
        logger.on_trial_result(0, [trial], trial, {"node_id": "n", "device": "cpu", "model_params": 97, **result})
    logger.on_trial_complete(0, [trial], trial)
    client = MlflowClient(tracker.uri)
    return logger, client, client.get_run(logger.trials["t0001"].run_id)


def test_a_trial_refused_before_training_ends_infeasible_with_its_measured_cost(workdir):
    refused = {"epoch": 0, "params": 321, "latency_ms": 0.02, "peak_memory_mb": 380.0, "epoch_seconds": math.nan,
               "val_loss": math.nan, INFEASIBLE_RESULT: "params <= 100 (params 321)"}
    logger, client, run = logged_trial(workdir, [refused])
    assert run.data.tags[record.STATUS] == Status.INFEASIBLE and run.info.status == "FINISHED"
    assert run.data.tags[record.FEASIBLE] == "false"
    assert run.data.tags[record.VIOLATED] == "params <= 100 (params 321)"
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "params")] == [(0, 321.0)]
    assert "val_loss" not in run.data.metrics and "epoch_seconds" not in run.data.metrics
    assert logger.excluded() == {"t0001"} and not logger.trials["t0001"].history
    assert record.has_ended(Status.INFEASIBLE) and not record.is_completed(Status.INFEASIBLE)


@pytest.mark.parametrize("losses, feasible", [([0.9, 0.4], True), ([0.9, 0.6], False)])
def test_a_limit_on_a_trained_metric_is_judged_at_the_trials_best_epoch(workdir, losses, feasible):
    epochs = [{"epoch": n, "val_loss": loss, "params": 97, "latency_ms": 0.02} for n, loss in enumerate(losses, 1)]
    logger, _, run = logged_trial(workdir, epochs)
    assert run.data.tags[record.STATUS] == Status.FINISHED
    assert run.data.tags[record.FEASIBLE] == str(feasible).lower()
    assert (run.data.tags.get(record.VIOLATED) is None) == feasible
    assert logger.excluded() == (set() if feasible else {"t0001"})


# --- what Optuna is told -----------------------------------------------------------------------

def test_optuna_is_told_how_far_each_trial_was_off():
    searcher = ObjectiveFeedback(OptunaSearch(metric="val_loss", mode="min"), "val_loss", "min",
                                 tell_representative=False, constraints=["params <= 100", "val_loss <= 0.5"])
    searcher.set_search_properties(None, None, {"lr": tune.loguniform(1e-4, 1e-2)})
    for trial_id in ("refused", "trained"):
        searcher.suggest(trial_id)
    refused = {"epoch": 0, "params": 321, "val_loss": math.nan, INFEASIBLE_RESULT: "params <= 100 (params 321)"}
    searcher.on_trial_result("refused", refused)
    searcher.on_trial_complete("refused", result=refused)
    epochs = [{"epoch": n, "training_iteration": n, "val_loss": loss, "params": 97} for n, loss in ((1, 0.7), (2, 0.8))]
    for result in epochs:
        searcher.on_trial_result("trained", result)
    searcher.on_trial_complete("trained", result=epochs[-1])

    refused_trial, trained_trial = searcher.searcher._ot_study.trials
    # Not trained: no values, pruned, its violation on params (3.21 times the bound, 2.21 over).
    assert refused_trial.state == TrialState.PRUNED and refused_trial.values is None
    assert refused_trial.constraints == {"params <= 100": pytest.approx(2.21)}
    # Trained: with one objective Optuna is told the last epoch as before; the limits judged at the
    # best epoch (val_loss 0.7 is 40% over 0.5).
    assert trained_trial.state == TrialState.COMPLETE and trained_trial.values == [0.8]
    assert trained_trial.constraints == {"params <= 100": 0.0, "val_loss <= 0.5": pytest.approx(0.4)}
