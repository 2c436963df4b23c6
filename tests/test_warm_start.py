"""search.warm_start: an earlier search of the same data told to the searcher, its best run
again first; other data or another objective refused, naming both."""

from __future__ import annotations

import os
import signal
import time

import pytest
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from search import record
from search.errors import SpecError
from search.record import LeftOut, Role, Status
from search.run import main
from search.space.dotted import flatten
from search.space.validation import load_spec
from search.tracking.lineage import SEARCH_CONTEXT, DataIdentity, log_data_input, logged_data_digest
from search.tuning.warm_start import inside_space, plan_warm_start
from tests.helpers import REPO, search_and_trial_runs, write_space

SOURCE = """\
name: source
task: electricity
data: {lookback: 12}
model: {name: simple_rnn, hidden_size: 8, num_layers: 1}
train: {epochs: 1, batch_size: 256, optimizer: adam, patience: null}
search:
  algorithm: optuna
  num_samples: 5
  max_concurrent: 2
  scheduler: {name: none}
space:
  train.lr: {loguniform: [1.0e-4, 1.0e-2]}
  train.optimizer: {choice: [adam, sgd]}
  train.momentum: {uniform: [0.5, 0.99], when: {train.optimizer: [sgd]}}
"""

WARM = SOURCE.replace("name: source", "name: warm").replace(
    "  scheduler: {name: none}", "  scheduler: {name: none}\n  seed: 1\n  warm_start: {from: source, top_k: 2}")

DIGEST = "0123456789abcdef"


def warm_spec(tmp_path, overrides=()):
    return load_spec(write_space(tmp_path, WARM), list(overrides))


def identity(digest: str = DIGEST) -> DataIdentity:
    return DataIdentity(name="electricity", digest=digest, source="built-in data of task electricity", options={})


# --- inside the space ------------------------------------------------------------------------
def params_of(tmp_path, **changes):
    """The warm search's spec, and a source trial's config: its base config with `changes`."""
    spec = warm_spec(tmp_path)
    return spec, {**flatten(spec.base_config()), **changes}


def test_a_configuration_inside_the_space_gives_its_active_values(tmp_path):
    spec, params = params_of(tmp_path, **{"train.lr": 0.003, "train.optimizer": "sgd", "train.momentum": 0.7})
    assert inside_space(spec, params) == ({"train.lr": 0.003, "train.optimizer": "sgd", "train.momentum": 0.7}, None)
    # An Adam trial: momentum is not searched here, so its value (whatever it was) is not compared.
    spec, params = params_of(tmp_path, **{"train.lr": 0.003, "train.momentum": 0.1})
    assert inside_space(spec, params) == ({"train.lr": 0.003, "train.optimizer": "adam"}, None)


@pytest.mark.parametrize("changes, why", [
    ({"train.lr": 0.5}, "train.lr = 0.5 is outside loguniform [0.0001, 0.01]"),
    ({"train.optimizer": "rmsprop"}, "train.optimizer = 'rmsprop' is outside choice ['adam', 'sgd']"),
    ({"train.optimizer": "sgd", "train.momentum": 0.2},
     "train.momentum = 0.2 is outside uniform [0.5, 0.99], when train.optimizer in ['sgd']"),
    ({"train.epochs": 3}, "train.epochs = 3, this search's is 1"),
    ({"model.hidden_size": 16}, "model.hidden_size = 16, this search's is 8"),
])
def test_a_configuration_outside_the_space_says_why(tmp_path, changes, why):
    spec, params = params_of(tmp_path, **{"train.lr": 0.003, **changes})
    assert inside_space(spec, params)[1] == why


def test_an_active_dimension_without_a_value_is_outside(tmp_path):
    spec, params = params_of(tmp_path, **{"train.lr": 0.003, "train.optimizer": "sgd"})
    del params["train.momentum"]
    assert inside_space(spec, params)[1] == "no value of train.momentum, which this space searches"


# --- the source, read back from MLflow -------------------------------------------------------
def log_source(client, digest: str = DIGEST, metric: str = "val_loss", status: str = "FINISHED") -> str:
    """A finished search run of experiment "source", as the platform logs one, and its trials:
    three good ones, one failed, one interrupted, one outside the space, one without a value."""
    found = client.get_experiment_by_name("source")
    experiment_id = found.experiment_id if found else client.create_experiment("source")
    search = client.create_run(experiment_id, tags={record.ROLE: Role.SEARCH})
    run_id = search.info.run_id
    client.log_batch(run_id, params=[Param(record.SEARCH_METRIC, metric), Param(record.SEARCH_MODE, "min")])
    log_data_input(client, run_id, identity(digest), SEARCH_CONTEXT)
    base = {"train.epochs": "1", "model.hidden_size": "8", "data.lookback": "12"}
    trials = [  # trial id, status, searched values, val_loss per epoch
        ("t-good-1", Status.FINISHED, {"train.lr": "0.003", "train.optimizer": "adam"}, [0.30]),
        ("t-good-2", Status.FINISHED, {"train.lr": "0.001", "train.optimizer": "sgd", "train.momentum": "0.9"},
         [0.40, 0.20]),
        ("t-good-3", Status.BUDGET_STOPPED, {"train.lr": "0.0005", "train.optimizer": "adam"}, [0.50]),
        ("t-failed", Status.FAILED, {"train.lr": "0.009", "train.optimizer": "adam"}, []),
        ("t-cut", Status.INTERRUPTED, {"train.lr": "0.002", "train.optimizer": "adam"}, [0.6]),
        ("t-far", Status.FINISHED, {"train.lr": "0.05", "train.optimizer": "adam"}, [0.1]),
        ("t-empty", Status.FINISHED, {"train.lr": "0.004", "train.optimizer": "adam"}, []),
    ]
    for trial_id, ended, values, losses in trials:
        trial = client.create_run(experiment_id, run_name=trial_id, tags={
            record.ROLE: Role.TRIAL, record.PARENT: run_id, record.TRIAL_ID: trial_id, record.STATUS: ended})
        client.log_batch(trial.info.run_id, params=[Param(k, v) for k, v in {**base, **values}.items()],
                         metrics=[Metric("val_loss", loss, int(time.time() * 1000), epoch)
                                  for epoch, loss in enumerate(losses, start=1)])
        client.set_terminated(trial.info.run_id)
    client.set_terminated(run_id, status)
    return run_id


def test_the_source_is_sorted_into_told_rerun_and_left_out(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    source = log_source(MlflowClient(tracking_uri=uri))
    plan = plan_warm_start(warm_spec(tmp_path), identity(), uri)
    assert plan.source_run_id == source
    # Best first by each trial's best epoch: t-good-2 (0.20), t-good-1 (0.30); then t-good-3.
    assert [t.trial_id for t in plan.reruns] == ["t-good-2", "t-good-1"]
    assert plan.reruns[0].values == {"train.lr": 0.001, "train.optimizer": "sgd", "train.momentum": 0.9}
    assert [(t.trial_id, t.value) for t in plan.told] == [("t-good-3", 0.5)]
    assert plan.left_out == {LeftOut.FAILED: 1, LeftOut.UNFINISHED: 1, LeftOut.OUTSIDE_SPACE: 1,
                             LeftOut.NO_METRIC: 1}
    assert plan.first_reason[LeftOut.OUTSIDE_SPACE] == "trial t-far: train.lr = 0.05 is outside loguniform " \
                                                      "[0.0001, 0.01]"
    assert plan.metrics(told=1) == {
        "warm_start_told": 1, "warm_start_rerun": 2, "warm_start_left_out": 4,
        "warm_start_left_out_outside_space": 1, "warm_start_left_out_failed": 1,
        "warm_start_left_out_unfinished": 1, "warm_start_left_out_no_metric": 1}
    # A search run id names the source as well as its experiment does.
    assert plan_warm_start(warm_spec(tmp_path, [f"search.warm_start.from={source}"]), identity(), uri).told


def test_the_latest_finished_search_of_the_experiment_is_the_source(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    log_source(client)
    latest = log_source(client)
    log_source(client, status="KILLED")  # interrupted after: not a source
    assert plan_warm_start(warm_spec(tmp_path), identity(), uri).source_run_id == latest


def test_other_data_or_another_objective_is_refused_naming_both(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    log_source(client, digest="fedcba9876543210")
    with pytest.raises(SpecError) as caught:
        plan_warm_start(warm_spec(tmp_path), identity(), uri)
    message = str(caught.value)
    assert "has data digest fedcba9876543210, this search's data has digest 0123456789abcdef" in message
    assert "search.warm_start.ignore_data: true takes them anyway" in message
    plan = plan_warm_start(warm_spec(tmp_path, ["search.warm_start.ignore_data=true"]), identity(), uri)
    assert len(plan.reruns) == 2
    other_metric = log_source(client, metric="val_mae")
    with pytest.raises(SpecError, match="selected by val_mae \\(min\\), this search by val_loss \\(min\\)"):
        plan_warm_start(warm_spec(tmp_path, [f"search.warm_start.from={other_metric}"]), identity(), uri)


@pytest.mark.parametrize("source, expected", [
    ("nowhere", "search.warm_start.from: 'nowhere' is neither an experiment nor a search run id in"),
    ("Default", "search.warm_start.from: 'Default': experiment 'Default' has no finished search run"),
])
def test_a_source_that_is_no_finished_search_is_refused(tmp_path, source, expected):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    log_source(MlflowClient(tracking_uri=uri))
    with pytest.raises(SpecError, match=expected):
        plan_warm_start(warm_spec(tmp_path, [f"search.warm_start.from={source}"]), identity(), uri)


def test_a_running_search_is_no_source(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    running = log_source(MlflowClient(tracking_uri=uri), status="RUNNING")
    with pytest.raises(SpecError, match="that search run is RUNNING, not finished"):
        plan_warm_start(warm_spec(tmp_path, [f"search.warm_start.from={running}"]), identity(), uri)


@pytest.mark.parametrize("overrides, expected", [
    (["search.algorithm=grid", "space={train.optimizer: {choice: [adam, sgd]}}"],
     "search.warm_start: a grid search runs every combination whatever an earlier search found"),
    (["search.warm_start.top_k=6"], "search.warm_start.top_k: 6 earlier configurations to run again do not fit "
                                    "in search.num_samples 5 trials"),
    (["search.warm_start={top_k: 2}"], "search.warm_start.from: missing (required)"),
])
def test_a_warm_start_that_cannot_be_is_refused_at_validation(tmp_path, capsys, overrides, expected):
    path = write_space(tmp_path, WARM)
    assert main([str(path), "--dry-run", *(arg for o in overrides for arg in ("--set", o))]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1, err


# --- end to end ----------------------------------------------------------------------------
def trials_in_order(client, experiment: str) -> list:
    found = client.get_experiment_by_name(experiment)
    runs = client.search_runs([found.experiment_id], f"tags.`{record.ROLE}` = '{Role.TRIAL}'",
                              order_by=["attributes.start_time ASC"], max_results=1000)
    return runs


def searched(run) -> tuple:
    params = run.data.params
    return params["train.optimizer"], params["train.lr"], params.get("train.momentum")


def best_first(client, trials) -> list:
    def best(run):
        return min(m.value for m in client.get_metric_history(run.info.run_id, "val_loss"))
    return sorted(trials, key=best)


@pytest.mark.slow
def test_a_warm_start_reruns_the_earlier_best_first_and_tells_the_rest(workdir, local_ray, capsys):
    uri = f"sqlite:///{workdir}/mlflow.db"
    assert main([str(write_space(workdir, SOURCE, "source.yaml")), "--tracking-uri", uri]) == 0
    client = MlflowClient(tracking_uri=uri)
    [source], source_trials = search_and_trial_runs(client, "source")
    warm = write_space(workdir, WARM, "warm.yaml")
    capsys.readouterr()

    # Other data (--smoke's slice) is refused before anything starts, naming both digests.
    assert main([str(warm), "--tracking-uri", uri, "--smoke"]) == 2
    err = capsys.readouterr().err
    assert f"has data digest {logged_data_digest(source)}, this search's data has digest" in err
    assert client.get_experiment_by_name("warm") is None  # no search run, no experiment

    assert main([str(warm), "--tracking-uri", uri]) == 0
    out = capsys.readouterr().out
    assert f"warm start from search run {source.info.run_id} of experiment 'source': 3 trials told" in out
    [search], _ = search_and_trial_runs(client, "warm")
    trials = trials_in_order(client, "warm")
    assert len(trials) == 5
    # The source's two best configurations ran first (two at a time: in either order).
    assert {searched(t) for t in trials[:2]} == {searched(t) for t in best_first(client, source_trials)[:2]}
    # None of the three told was proposed again.
    told = {searched(t) for t in best_first(client, source_trials)[2:]}
    assert not told & {searched(t) for t in trials[2:]}
    assert search.data.tags[record.WARM_START_FROM] == source.info.run_id
    assert search.data.metrics[record.WARM_START_TOLD] == 3 and search.data.metrics[record.WARM_START_RERUN] == 2
    assert search.data.metrics[record.WARM_START_LEFT_OUT] == 0

    # ignore_data takes a source of other data anyway.
    assert main([str(warm), "--tracking-uri", uri, "--smoke", "--set", "search.warm_start.ignore_data=true",
                 "--set", "search.warm_start.top_k=1"]) == 0
    assert "warm start from search run" in capsys.readouterr().out


@pytest.mark.slow
def test_resuming_a_budgeted_warm_started_search_repeats_nothing_and_counts_what_was_spent(workdir, local_ray):
    from tests.test_fault_tolerance import PROGRESS_S, SEARCH_S, cli, wait_for

    uri = f"sqlite:///{workdir}/mlflow.db"
    # --smoke's slice of the data, two epochs of small batches (a second or two each), so the warm
    # search can be caught mid-way.
    slow = ["--smoke", "--set", "train.epochs=2", "--set", "train.batch_size=8", "--tracking-uri", uri]
    assert main([str(write_space(workdir, SOURCE, "source.yaml")), "--num-samples", "3", *slow]) == 0
    client = MlflowClient(tracking_uri=uri)
    _, source_trials = search_and_trial_runs(client, "source")
    best_two = [searched(t) for t in best_first(client, source_trials)[:2]]

    # At most 5 trial-epochs of --smoke's 4 trials of 2 epochs.
    warm = write_space(workdir, WARM.replace("seed: 1", "seed: 1\n  budget: {trial_epochs: 5}"), "warm.yaml")
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # the drivers import this checkout's code
    first = cli(str(warm), *slow, cwd=workdir, env=env)

    def epochs_logged() -> int:
        _, trials = search_and_trial_runs(client, "warm")
        return sum(len(client.get_metric_history(t.info.run_id, "val_loss")) for t in trials)

    try:
        wait_for(lambda: epochs_logged() >= 2, PROGRESS_S, "two epochs of the warm search")
    finally:
        first.send_signal(signal.SIGINT)  # Ctrl-C
        out, _ = first.communicate(timeout=SEARCH_S)
    assert first.returncode == 130, out[-3000:]
    [search], _ = search_and_trial_runs(client, "warm")
    assert search.info.status == "KILLED"
    spent_before = search.data.metrics[record.BUDGET_TIME_USED]
    assert spent_before > 0

    second = cli(str(warm), "--resume", *slow, cwd=workdir, env=env)
    out, _ = second.communicate(timeout=SEARCH_S)
    assert second.returncode == 0, out[-3000:]
    [search], trials = search_and_trial_runs(client, "warm")
    assert search.info.status == "FINISHED" and search.data.tags[record.BUDGET_SPENT] == record.Spent.TRIAL_EPOCHS
    assert all(t.info.status == "FINISHED" for t in trials), [t.data.tags for t in trials]
    ran = [searched(t) for t in trials]
    assert sorted(ran.count(config) for config in best_two) == [1, 1]  # each re-run once, not again
    # The warm start was told and recorded once, when the search started.
    assert len(client.get_metric_history(search.info.run_id, record.WARM_START_TOLD)) == 1
    epochs = sum(len(client.get_metric_history(t.info.run_id, "val_loss")) for t in trials)
    # The epochs before the interrupt counted: the budget ended it short of 4 x 2 epochs.
    assert search.data.metrics[record.BUDGET_EPOCHS_USED] == epochs and 5 <= epochs <= 6
    assert search.data.metrics[record.BUDGET_TIME_USED] > spent_before  # counted on from the record
