"""search.budget: a search ends when its time or its trial-epochs are spent, at an epoch's end,
normally (exit 0), with what it used on record."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient
from ray.tune.experiment import Trial

from search import record
from search.api import command_line_overrides
from search.record import Status
from search.run import main
from search.space.durations import format_duration, parse_duration
from search.space.validation import load_spec
from search.tracking.tracker import Tracker
from search.tuning.budget import Budget, BudgetStopper
from tests.helpers import search_and_trial_runs, write_space

# Up to 60 one-CPU trials of a tiny network, two at a time; 4 epochs each, so a budget of a
# few trial-epochs (or seconds) is spent while the first trials still run.
BUDGETED = """\
name: budgeted
task: electricity
data: {lookback: 12}
model: {name: simple_rnn, hidden_size: 8, num_layers: 1}
train: {epochs: 4, batch_size: 256, optimizer: adam, patience: null}
search:
  algorithm: optuna
  num_samples: 60
  max_concurrent: 2
  scheduler: {name: none}
space:
  train.lr: {loguniform: [1.0e-4, 1.0e-2]}
  train.optimizer: {choice: [adam, sgd]}
"""


@pytest.mark.parametrize("written, seconds, said", [
    ("90s", 90, "1m30s"), ("15m", 900, "15m"), ("2h", 7200, "2h00m"), ("1h30m", 5400, "1h30m"),
    ("1.5h", 5400, "1h30m"), ("45", 45, "45s"), (120, 120, "2m"), (2.5, 2.5, "2s"),
])
def test_durations_read_as_written(written, seconds, said):
    assert parse_duration(written) == seconds
    assert format_duration(seconds) == said


@pytest.mark.parametrize("written", ["2 hours", "h", "", "1m30h", "-5", 0, True, None, "nan"])
def test_a_duration_that_is_none_is_refused(written):
    with pytest.raises(ValueError):
        parse_duration(written)


@pytest.mark.parametrize("budget, expected", [
    ("{time: 2 hours}", "search.budget.time: '2 hours' is not a duration such as 90s, 15m, 2h or 1h30m, or a "
                        "number of seconds"),
    ("{}", "search.budget: give time (a duration: 90s, 15m, 2h, 1h30m), trial_epochs, or both"),
    ("{trial_epochs: 0}", "search.budget.trial_epochs: Input should be greater than or equal to 1"),
    ("{time: 1h, epochs: 40}", "search.budget.epochs: unknown key"),
])
def test_a_wrong_budget_is_refused_naming_the_key(tmp_path, capsys, budget, expected):
    path = write_space(tmp_path, BUDGETED)
    assert main([str(path), "--dry-run", "--set", f"search.budget={budget}"]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["space.yaml"]


def test_time_budget_on_the_command_line_and_in_python_sets_the_same_key(tmp_path, capsys):
    path = write_space(tmp_path, BUDGETED)
    assert main([str(path), "--dry-run", "--time-budget", "1h30m"]) == 0
    assert "at most 60 trials x 4 epochs = 240 trial-epochs; budget: 1h30m from the first trial's start" \
        in capsys.readouterr().out
    overrides = command_line_overrides([], None, None, "30m")
    assert overrides == ["search.budget.time=30m"]
    spec = load_spec(path, [*overrides, "search.budget.trial_epochs=100"])
    assert spec.search.budget.time == 1800 and spec.search.budget.trial_epochs == 100
    assert main([str(path), "--dry-run", "--time-budget", "soon"]) == 2
    assert "search.budget.time: 'soon' is not a duration" in capsys.readouterr().err


def tracker_of(tmp_path, budget: str) -> Tracker:
    spec = load_spec(write_space(tmp_path, BUDGETED), [f"search.budget={budget}"])
    tracker = Tracker(spec, f"sqlite:///{tmp_path}/mlflow.db")
    tracker.start_search("", {}, {})
    return tracker


def test_the_stopper_stops_each_trial_at_its_next_result_once_the_epochs_are_spent(tmp_path):
    tracker = tracker_of(tmp_path, "{trial_epochs: 3}")
    budget = Budget(tracker.spec.search.budget, tracker)
    stopper = BudgetStopper(budget)
    first, second = Trial("__fake", stub=True), Trial("__fake", stub=True)
    budget.trials = [first, second]
    for trial in budget.trials:
        trial.set_status(Trial.RUNNING)
    assert not stopper(first.trial_id, {"epoch": 1}) and not stopper(second.trial_id, {"epoch": 1})
    assert not stopper(first.trial_id, {"epoch": 1})  # an epoch reported again counts once
    assert budget.epochs_used() == 2 and budget.spent() is None and not stopper.stop_all()
    assert stopper(first.trial_id, {"epoch": 2})  # the third epoch: spent, and this trial stops here
    assert budget.spent() == record.Spent.TRIAL_EPOCHS and budget.stopped == {first.trial_id}
    first.set_status(Trial.TERMINATED)
    assert not stopper.stop_all()  # the second trial is still in its epoch: not cut short
    assert stopper(second.trial_id, {"epoch": 2})
    second.set_status(Trial.TERMINATED)
    assert stopper.stop_all() and budget.stopped == {first.trial_id, second.trial_id}
    assert budget.describe_use() == "budget: 4 trial-epochs of 3; the trial-epochs ran out"


def test_time_counts_from_the_first_trial_and_on_from_what_the_record_holds(tmp_path):
    tracker = tracker_of(tmp_path, "{time: 1h}")
    budget = Budget(tracker.spec.search.budget, tracker)
    assert budget.time_used() == 0 and budget.spent() is None  # no trial started yet
    budget.start()
    budget.time_before_s = 3000  # as if earlier attempts had used 50 minutes of the hour
    budget.record()
    assert budget.spent() is None and 3000 <= budget.time_used() < 3600
    metrics = MlflowClient(tracking_uri=tracker.uri).get_run(tracker.run_id).data.metrics
    assert 3000 <= metrics[record.BUDGET_TIME_USED] < 3600 and metrics[record.BUDGET_EPOCHS_USED] == 0
    resumed = Budget.of_resumed_search(tracker.spec.search.budget, tracker)
    assert resumed.time_before_s == metrics[record.BUDGET_TIME_USED] and resumed.time_used() == resumed.time_before_s
    resumed.time_before_s = 3600
    resumed.start()
    assert resumed.spent() == record.Spent.TIME


def test_a_reevaluation_runs_only_if_it_fits_in_what_is_left(tmp_path):
    tracker = tracker_of(tmp_path, "{time: 10m, trial_epochs: 100}")
    budget = Budget(tracker.spec.search.budget, tracker)
    budget.trial_epochs = {"a": 40, "b": 40}
    assert budget.reevaluation_skip_reason(4, [10.0] * 5, 2) is None  # 20 epochs of 20 left; 100 s of 600
    assert budget.reevaluation_skip_reason(4, [10.0] * 6, 2) == \
        "it needs up to 6 runs x 4 epochs = 24 trial-epochs, 20 of the budget are left"
    budget.trial_epochs = {"a": 10}
    budget.start()
    budget.time_before_s = 500  # 100 s left: 4 runs x 4 epochs x 20 s, two at a time, take 160
    assert budget.reevaluation_skip_reason(4, [20.0] * 4, 2).startswith(
        "it needs about 2m40s (4 runs x 4 epochs at the trials' measured epoch times, 2 at a time), 1m")


# --- end to end ----------------------------------------------------------------------------
@pytest.mark.slow
def test_a_budgeted_search_of_60_trials_stops_early_tests_the_best_and_exits_0(workdir, local_ray, capsys):
    uri = f"sqlite:///{workdir}/mlflow.db"
    path = write_space(workdir, BUDGETED)
    assert main([str(path), "--tracking-uri", uri, "--set", "search.budget={trial_epochs: 3}",
                 "--set", "search.reevaluate={top_k: 2, seeds: 2}"]) == 0
    out = capsys.readouterr().out
    assert "budget: 4 trial-epochs of 3; the trial-epochs ran out" in out or \
        "budget: 3 trial-epochs of 3; the trial-epochs ran out" in out, out[-3000:]
    assert "[search] re-evaluation skipped: it needs up to 4 runs x 4 epochs = 16 trial-epochs, 0 of the budget" in out

    client = MlflowClient(tracking_uri=uri)
    [search], trials = search_and_trial_runs(client, "budgeted")
    assert search.info.status == "FINISHED"
    assert 1 <= len(trials) <= 2  # the two that ran when the budget ran out; none started after
    for trial in trials:  # each stopped at an epoch's end, before its 4 epochs
        assert trial.data.tags[record.STATUS] == Status.BUDGET_STOPPED and trial.info.status == "FINISHED"
        steps = [m.step for m in client.get_metric_history(trial.info.run_id, "val_loss")]
        assert steps == list(range(1, len(steps) + 1)) and len(steps) < 4
    used = sum(len(client.get_metric_history(t.info.run_id, "val_loss")) for t in trials)
    metrics, tags, params = search.data.metrics, search.data.tags, search.data.params
    assert metrics[record.BUDGET_EPOCHS_USED] == used and 3 <= used <= 4  # at most max_concurrent - 1 over
    assert tags[record.BUDGET_SPENT] == record.Spent.TRIAL_EPOCHS
    assert tags[record.REEVAL_SKIPPED].startswith("it needs up to 4 runs x 4 epochs")
    assert params["search.budget.trial_epochs"] == "3" and params["search.budget.time"] == "None"
    assert "test_mse" in metrics and params["best.trial_id"] in {t.data.tags["trial_id"] for t in trials}


@pytest.mark.slow
def test_a_time_budget_ends_a_random_search_the_same_way(workdir, local_ray, capsys):
    uri = f"sqlite:///{workdir}/mlflow.db"
    path = write_space(workdir, BUDGETED.replace("algorithm: optuna", "algorithm: random"))
    # Small batches: an epoch takes seconds, so 2 s of budget end the first trials mid-way.
    assert main([str(path), "--tracking-uri", uri, "--time-budget", "2s", "--set", "train.batch_size=32"]) == 0
    assert "the time ran out" in capsys.readouterr().out

    client = MlflowClient(tracking_uri=uri)
    [search], trials = search_and_trial_runs(client, "budgeted")
    assert search.info.status == "FINISHED" and search.data.tags[record.BUDGET_SPENT] == record.Spent.TIME
    assert search.data.metrics[record.BUDGET_TIME_USED] >= 2 and search.data.params["search.budget.time"] == "2.0"
    assert 1 <= len(trials) < 60 and all(t.info.status == "FINISHED" for t in trials)
    assert Status.BUDGET_STOPPED in {t.data.tags[record.STATUS] for t in trials}
