"""search.compare: tables and plots read back from MLflow.

Fast tests fill a store directly with MlflowClient in the shape search/tracking/tracker.py
writes; the slow ones compare two real (smoke) searches, one of each task kind.
Tables are checked against the runs' logged metrics, value by value.
"""

from __future__ import annotations

import json
import math
import re
import time
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from search import record
from search.compare import main
from search.compare.importance import param_importances
from search.compare.plots import score_scale
from search.compare.report import Report
from search.compare.store import choose_experiments, load_searches, open_store
from search.compare.tables import (
    best_table,
    describe_change,
    display_best_table,
    display_trials_table,
    settings_as_run,
    trials_table,
)
from search.record import COMPARISON_EXPERIMENT, Role, Status, space_param
from tests.helpers import SPACES

# --- a store filled by hand, in the layout of search/tracking/tracker.py and search/tuning/pipeline.py ------

REGRESSION_SPEC = """\
name: forecast
task: electricity
data: {lookback: 48}
model: {name: simple_rnn, hidden_size: 32}
train: {epochs: 3, optimizer: adam, lr: 1e-3}
space:
  model.hidden_size: {choice: [32, 64]}
  train.lr: {loguniform: [1.0e-4, 1.0e-1]}
"""

CLASSIFICATION_SPEC = """\
name: sentiment
task: tweets
model: {name: lstm, hidden_size: 64}
train: {epochs: 2}
search: {metric: val_acc, mode: max}
space:
  model.hidden_size: {choice: [32, 64, 128]}
"""

FORECAST_TRIALS = [
    # trial id, status, searched values, per-epoch curves
    ("aaaa0001", "finished", {"model.hidden_size": "32", "train.lr": "0.001"},
     {"train_loss": [0.5, 0.3, 0.2], "val_loss": [0.4, 0.25, 0.3], "val_mae": [3.0, 2.0, 2.5],
      "val_rmse": [4.0, 3.0, 3.5], "epoch_time_s": [1.0, 2.0, 3.0],
      # costs as a trial logs them: params and latency_ms once (step 0), the others each epoch
      "params": [2113.0], "latency_ms": [0.031], "epoch_seconds": [1.0, 1.5, 2.0],
      "peak_memory_mb": [410.0, 420.5, 420.5]}),
    ("aaaa0002", "finished", {"model.hidden_size": "64", "train.lr": "0.0123456"},
     {"train_loss": [0.6, 0.2, 0.1], "val_loss": [0.5, 0.15, 0.12], "val_mae": [3.5, 1.5, 1.2],
      "val_rmse": [4.5, 2.5, 2.0], "epoch_time_s": [2.0, 2.0, 2.0]}),
    ("aaaa0003", "asha_stopped", {"model.hidden_size": "64", "train.lr": "0.0001"},
     {"train_loss": [0.9], "val_loss": [0.8], "val_mae": [5.0], "val_rmse": [6.0], "epoch_time_s": [1.5]}),
    ("aaaa0004", "failed", {"model.hidden_size": "32", "train.lr": "0.09"}, {}),
]
FORECAST_TEST = {"test_loss": 0.13, "test_mse": 0.131, "test_mae": 1.4, "test_rmse": 2.2,
                 "baseline_linear_test_mse": 0.2, "best_selection_value": 0.12, "search_cpu_hours": 0.5,
                 "search_gpu_hours": 0.0}

SENTIMENT_TRIALS = [
    ("bbbb0001", "finished", {"model.hidden_size": "128"},
     {"train_loss": [1.0, 0.8], "val_loss": [1.1, 0.9], "train_acc": [0.5, 0.6], "val_acc": [0.55, 0.62],
      "val_f1": [0.3, 0.4], "epoch_time_s": [1.0, 1.2]}),
    ("bbbb0002", "early_stopped", {"model.hidden_size": "32"},
     {"train_loss": [1.0, 0.95], "val_loss": [1.05, 1.0], "train_acc": [0.45, 0.5], "val_acc": [0.5, 0.52],
      "val_f1": [0.25, 0.3], "epoch_time_s": [0.8, 0.9]}),
]
SENTIMENT_TEST = {"test_loss": 0.95, "test_acc": 0.61, "test_f1": 0.41, "test_precision": 0.45,
                  "test_recall": 0.42, "best_selection_value": 0.62, "search_cpu_hours": 1.0,
                  "search_gpu_hours": 0.25}


def log_search(client, experiment: str, kind: str, spec_text: str, space: dict, trials: list,
               test: dict, metric: str = "val_loss", mode: str = "min", status: str = "FINISHED",
               best: str | None = None, base: dict | None = None) -> str:
    """A search run and its nested trial runs, as the platform logs them."""
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    search = client.create_run(experiment_id, run_name=f"{experiment} search", tags={
        record.ROLE: Role.SEARCH, record.KIND: kind, record.TASK: "task-" + kind,
        record.MODEL: "model-" + kind, record.RAY_RUN_NAME: experiment})
    run_id = search.info.run_id
    params = {record.TASK_PARAM: "task-" + kind, record.SEARCH_METRIC: metric, record.SEARCH_MODE: mode,
              record.SMOKE_PARAM: "False", **{f"{record.SPACE_PREFIX}{k}": v for k, v in space.items()}}
    client.log_text(run_id, spec_text, record.SPEC)
    base = base or {}
    for trial_id, ended, values, curves in trials:
        trial = client.create_run(experiment_id, run_name=trial_id, tags={
            record.ROLE: Role.TRIAL, record.PARENT: run_id, record.TRIAL_ID: trial_id,
            record.STATUS: ended, **({record.ERROR: "ValueError: train_loss is nan"}
                                     if ended == Status.FAILED else {})})
        now = int(time.time() * 1000)
        client.log_batch(trial.info.run_id, params=[
            Param(k, v) for k, v in {**base, **values, record.MODEL_PARAMS: "123"}.items()], metrics=[
            Metric(name, value, now, epoch) for name, series in curves.items()
            for epoch, value in enumerate(series, start=0 if name in record.BEFORE_TRAINING_COSTS else 1)])
        client.set_terminated(trial.info.run_id, "FAILED" if ended == Status.FAILED else "FINISHED")
    if best:
        params[record.BEST_TRIAL_ID] = best
        chosen = next(values for trial_id, _, values, _ in trials if trial_id == best)
        params.update({f"{record.BEST_PREFIX}{k}": v for k, v in chosen.items()})
    client.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()],
                     metrics=[Metric(k, v, int(time.time() * 1000), 0) for k, v in test.items()])
    client.set_terminated(run_id, status)
    return run_id


FORECAST_SPACE = {"model.hidden_size": space_param("choice", [32, 64]),
                  "train.lr": space_param("loguniform", [0.0001, 0.1])}
# As searches logged a dimension before its JSON form: "choice [32, 64, 128]".
SENTIMENT_SPACE = {"model.hidden_size": "choice [32, 64, 128]"}
# train.epochs=2 in every trial while spec.yaml says 3: a search-wide setting (as --smoke does).
FORECAST_BASE = {"data.lookback": "48", "model.name": "simple_rnn", "train.epochs": "2",
                 "train.optimizer": "adam"}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One sqlite store (creating one costs seconds) for the fast tests: a search of each task
    kind, an experiment searched three times, a search where every trial failed, an empty one."""
    folder = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{folder}/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    ids = {
        "forecast": log_search(client, "forecast", "regression", REGRESSION_SPEC, FORECAST_SPACE,
                               FORECAST_TRIALS, FORECAST_TEST, best="aaaa0002", base=FORECAST_BASE),
        "sentiment": log_search(client, "sentiment", "classification", CLASSIFICATION_SPEC,
                                SENTIMENT_SPACE, SENTIMENT_TRIALS,
                                SENTIMENT_TEST, metric="val_acc", mode="max", best="bbbb0001",
                                base={"model.name": "lstm", "train.epochs": "2"}),
    }
    client.create_experiment("empty")
    for trials, test, status, best in ((FORECAST_TRIALS[:2], FORECAST_TEST, "FINISHED", "aaaa0002"),
                                       (FORECAST_TRIALS[:1], FORECAST_TEST, "FINISHED", "aaaa0001"),
                                       (FORECAST_TRIALS[2:3], {}, "KILLED", None)):  # interrupted, newest
        ids.setdefault("again", []).append(log_search(
            client, "again", "regression", REGRESSION_SPEC, FORECAST_SPACE, trials, test,
            status=status, best=best, base=FORECAST_BASE))
        time.sleep(0.01)  # distinct start times
    log_search(client, "broken", "regression", REGRESSION_SPEC, FORECAST_SPACE,
               FORECAST_TRIALS[3:], {}, status="FAILED", base=FORECAST_BASE)
    return SimpleNamespace(uri=uri, client=client, ids=ids)


def searches_of(client, name: str, every_run: bool = False):
    return load_searches(client, client.get_experiment_by_name(name), every_run=every_run)


def read_table(path):
    # Ids stay text: a trial id like "62208836" is all digits about one time in 40.
    return pd.read_csv(path, dtype={"trial": str, "best_trial": str, "run_id": str})


# --- fast: the tables ---------------------------------------------------------------------


def test_trial_rows_are_read_from_the_runs_metrics(store):
    client = store.client
    [search] = searches_of(client, "forecast")
    table = trials_table(search).set_index("trial")

    # Best first by the search metric (each trial's best epoch); the failed one, with no value, last.
    assert list(table.index) == ["aaaa0002", "aaaa0001", "aaaa0003", "aaaa0004"]
    for trial_id, ended, _, curves in FORECAST_TRIALS:
        row = table.loc[trial_id]
        assert row["ended"] == ended
        run = client.get_run(row["run_id"])
        for metric in ("train_loss", "val_loss", "val_mae"):
            logged = [m.value for m in client.get_metric_history(run.info.run_id, metric)]
            if logged:
                assert row[f"{metric}_low"] == min(logged) and row[f"{metric}_high"] == max(logged)
            else:
                assert pd.isna(row[f"{metric}_low"])
        assert row["epochs"] == len(curves.get("val_loss", []))
        times = curves.get("epoch_time_s")
        if times:
            assert row["epoch_time_s"] == pytest.approx(sum(times) / len(times))
        else:
            assert pd.isna(row["epoch_time_s"])
    costly = table.loc["aaaa0001"]  # what it cost: as its run last logged it
    assert (costly["params"], costly["latency_ms"], costly["epoch_seconds"], costly["peak_memory_mb"]) == \
        (2113.0, 0.031, 2.0, 420.5)
    assert table.loc[["aaaa0002", "aaaa0003", "aaaa0004"], list(record.COSTS)].isna().all().all()
    assert table.loc["aaaa0002", "best_val_loss"] == 0.12  # the lowest val_loss, not the last
    assert table.loc["aaaa0004", "error"] == "ValueError: train_loss is nan"

    # Test metrics belong to the evaluated best trial only, as logged on the search run.
    search_metrics = client.get_run(search.run.info.run_id).data.metrics
    assert table.loc["aaaa0002", "best"]
    for metric in ("test_loss", "test_mse", "test_mae", "test_rmse"):
        assert table.loc["aaaa0002", metric] == search_metrics[metric]
        assert table.drop(index="aaaa0002")[metric].isna().all()
    assert "test_acc" not in table and "train_acc_low" not in table


def test_change_is_what_a_trial_changed_on_the_base_config(store):
    client = store.client
    [search] = searches_of(client, "forecast")
    changes = {t.trial_id: describe_change(search, t) for t in search.trials}
    # spec.yaml's base: hidden_size 32, lr 1e-3 (written as "1e-3", logged as "0.001").
    assert changes["aaaa0001"] == "base config"
    assert changes["aaaa0002"] == "model.hidden_size=64, train.lr=0.0123"
    assert changes["aaaa0003"] == "model.hidden_size=64, train.lr=0.0001"
    # train.epochs differs from spec.yaml in every trial: said once for the search, not per row.
    assert settings_as_run(search) == {"train.epochs": ("2", "3")}


def test_best_of_each_search_is_grouped_by_task_kind(store):
    client, ids = store.client, store.ids
    searches = searches_of(client, "forecast") + searches_of(client, "sentiment")
    regression, classification = best_table(searches, "regression"), best_table(searches, "classification")
    assert list(regression["experiment"]) == ["forecast"]
    assert list(classification["experiment"]) == ["sentiment"]
    # No column mixes accuracy with squared error.
    assert {"test_mse", "test_rmse"} <= set(regression) and not {"test_acc", "test_f1"} & set(regression)
    assert {"test_acc", "test_f1"} <= set(classification) and not {"test_mse", "test_rmse"} & set(classification)

    for table, name in ((regression, "forecast"), (classification, "sentiment")):
        row = table.iloc[0]
        run = client.get_run(ids[name])
        assert row["best_trial"] == run.data.params["best.trial_id"]
        assert row["selection_value"] == run.data.metrics["best_selection_value"]
        for metric in [c for c in table.columns if c.startswith("test_")]:
            assert row[metric] == run.data.metrics[metric]
    assert regression.iloc[0]["best_config"] == "model.hidden_size=64, train.lr=0.0123"
    assert classification.iloc[0]["selection_metric"] == "val_acc (max)"
    assert regression.iloc[0]["trials"] == 4 and regression.iloc[0]["trials_completed"] == 3


def test_the_space_is_read_in_both_logged_forms(store):
    [forecast] = searches_of(store.client, "forecast")
    assert forecast.space == {"model.hidden_size": ("choice", [32, 64]), "train.lr": ("loguniform", [0.0001, 0.1])}
    [sentiment] = searches_of(store.client, "sentiment")  # the text form of earlier searches
    assert sentiment.space == {"model.hidden_size": ("choice", [32, 64, 128])}


def test_a_repeated_step_keeps_the_later_value(store):
    client = store.client
    run_id = client.create_run("0").info.run_id  # in Default, which holds no searches
    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric("val_loss", 0.5, now, 1), Metric("val_loss", 0.4, now, 2),
                                      Metric("val_loss", 0.45, now + 5, 2), Metric("val_loss", 0.3, now + 6, 3)])
    assert record.metric_history(client, run_id, "val_loss") == [(1, 0.5), (2, 0.45), (3, 0.3)]


def test_importance_needs_two_trials_with_different_values(store):
    client = store.client
    [forecast] = searches_of(client, "forecast")
    importances, why = param_importances(forecast)
    assert why == "" and set(importances.values) == {"model.hidden_size", "train.lr"}
    assert sum(importances.values.values()) == pytest.approx(1.0)
    assert importances.trials == dict.fromkeys(importances.values, 3)  # the completed trials (one failed)

    forecast.trials = forecast.trials[:1]
    importances, why = param_importances(forecast)
    assert importances is None and "at least 2 completed trials" in why


def test_latest_finished_search_run_is_chosen(store):
    client, ids = store.client, store.ids
    older, newer, interrupted = ids["again"]
    [chosen] = searches_of(client, "again")
    assert chosen.run.info.run_id == newer and chosen.other_runs == 2
    assert [s.run.info.run_id for s in searches_of(client, "again", every_run=True)] == [interrupted, newer, older]


def test_search_without_finished_trials_is_reported_not_a_crash(store, tmp_path):
    uri = store.uri
    out = tmp_path / "out"
    assert main(["broken", "--tracking-uri", uri, "--out", str(out)]) == 0
    text = (out / "comparison.md").read_text()
    assert "no finished trials" in text and "Not computed" in text
    assert not (out / "best_regression.csv").exists()  # nothing was evaluated on the test split


# --- fast: the command --------------------------------------------------------------------

def test_unknown_experiment_is_refused_in_one_line(store, tmp_path, capsys):
    uri = store.uri
    out = tmp_path / "out"
    assert main(["forecast", "nope", "--tracking-uri", uri, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: experiment 'nope'")
    assert err.rstrip().endswith("available: Default, again, broken, empty, forecast, sentiment")
    assert not out.exists()


def test_missing_sqlite_store_is_refused_not_created(tmp_path, capsys):
    assert main(["--tracking-uri", f"sqlite:///{tmp_path}/none.db", "--out", str(tmp_path / "o")]) == 2
    assert "no such store" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()


def test_no_names_takes_experiments_with_search_runs(store):
    uri = store.uri
    names = [e.name for e in choose_experiments(open_store(uri), [], uri)]
    assert names == ["again", "broken", "forecast", "sentiment"]  # not empty, Default, comparisons


def test_command_writes_report_and_logs_a_comparison_run(store, tmp_path, capsys):
    uri, client, ids = store.uri, store.client, store.ids
    out = tmp_path / "out"
    assert main(["forecast", "sentiment", "empty", "--tracking-uri", uri, "--out", str(out), "--top", "2"]) == 0
    printed = capsys.readouterr().out
    assert "[compare] forecast: search run 'forecast search'" in printed
    assert "left out" not in printed  # one search run per experiment: none was passed over

    markdown = (out / "comparison.md").read_text()
    assert "## empty" in markdown and "no search runs in this experiment" in markdown
    assert "Every trial ran with train.epochs=2 (spec.yaml: 3)" in markdown
    assert "| aaaa0002 (best) | model.hidden_size=64, train.lr=0.0123 | 0.1–0.6 | 0.12–0.5 | 1.2–3.5 |" in markdown
    csv = read_table(out / "forecast" / "trials.csv")
    assert list(csv["trial"]) == ["aaaa0002", "aaaa0001", "aaaa0003", "aaaa0004"]
    assert pd.read_csv(out / "best_classification.csv")["test_acc"].tolist() == [SENTIMENT_TEST["test_acc"]]
    for picture in ("learning_curves.png", "parallel_coordinates.png", "importance.png"):
        assert (out / "forecast" / picture).read_bytes().startswith(b"\x89PNG")
    assert_self_contained((out / "comparison.html").read_text())

    experiment = client.get_experiment_by_name(COMPARISON_EXPERIMENT)
    [run] = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"],
                               max_results=1)
    assert run.data.tags[record.ROLE] == Role.COMPARISON and run.info.status == "FINISHED"
    assert run.data.params["search_run.forecast"] == ids["forecast"]
    assert run.data.params["top_k"] == "2"
    assert {"comparison.html", "comparison.md", "best_regression.csv", "best_classification.csv",
            "forecast/trials.csv", "forecast/learning_curves.png", "sentiment/importance.csv"} \
        <= artifact_paths(client, run.info.run_id)


def assert_self_contained(page: str) -> None:
    """Nothing the page shows is fetched from elsewhere: every src is inline data."""
    sources = re.findall(r"""\b(?:src|href)\s*=\s*["']([^"']*)""", page, flags=re.IGNORECASE)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r"<(?:link|script|iframe)\b", page, flags=re.IGNORECASE)
    assert "url(" not in page and "@import" not in page


def artifact_paths(client, run_id: str, path: str | None = None) -> set[str]:
    found = set()
    for entry in client.list_artifacts(run_id, path):
        found |= artifact_paths(client, run_id, entry.path) if entry.is_dir else {entry.path}
    return found


# --- slow: two real searches, one of each task kind -----------------------------------------

@pytest.fixture(scope="module")
def real_store(tmp_path_factory, local_ray):
    """A regression and a classification smoke search, run once for the module's tests."""
    from search.run import main as run_search

    folder = tmp_path_factory.mktemp("real")
    uri = f"sqlite:///{folder}/mlflow.db"
    with pytest.MonkeyPatch.context() as patch:  # what the workdir fixture does, for a module
        patch.chdir(folder)
        patch.setenv("SEARCH_CACHE_DIR", str(folder / "cache"))
        assert run_search([str(SPACES / "rnn_units.yaml"), "--smoke", "--tracking-uri", uri]) == 0
        assert run_search([str(SPACES / "lstm_sentiment.yaml"), "--smoke", "--tracking-uri", uri]) == 0
        out = folder / "comparison"
        assert main(["--tracking-uri", uri, "--out", str(out)]) == 0
    client = MlflowClient(tracking_uri=uri)
    [comparison] = client.search_runs([client.get_experiment_by_name(COMPARISON_EXPERIMENT).experiment_id])
    return SimpleNamespace(uri=uri, client=client, out=out, comparison_id=comparison.info.run_id)


@pytest.mark.slow
def test_real_trial_tables_match_the_runs(real_store):
    client, out = real_store.client, real_store.out
    for name in ("rnn_units", "lstm_sentiment"):
        experiment = client.get_experiment_by_name(name)
        [search] = client.search_runs([experiment.experiment_id], "tags.`search.role` = 'search'")
        trials = client.search_runs([experiment.experiment_id], "tags.`search.role` = 'trial'")
        table = read_table(out / name / "trials.csv").set_index("trial")
        assert set(table.index) == {t.data.tags[record.TRIAL_ID] for t in trials}
        kind = search.data.tags[record.KIND]
        # Each searched dimension as the space file writes it, in JSON.
        written = yaml.safe_load((SPACES / f"{name}.yaml").read_text())["space"]
        assert {key: json.loads(search.data.params[f"{record.SPACE_PREFIX}{key}"]) for key in written} == written
        ranges = ("train_acc", "val_acc", "train_loss", "val_loss") if kind == "classification" \
            else ("train_loss", "val_loss", "val_mae")
        for trial in trials:
            row = table.loc[trial.data.tags[record.TRIAL_ID]]
            assert row["ended"] == trial.data.tags[record.STATUS]
            for metric in ranges:
                logged = [m.value for m in client.get_metric_history(trial.info.run_id, metric)]
                assert row[f"{metric}_low"] == pytest.approx(min(logged), rel=1e-12)
                assert row[f"{metric}_high"] == pytest.approx(max(logged), rel=1e-12)
            assert row["epochs"] == len(client.get_metric_history(trial.info.run_id, "val_loss"))
        best = table.loc[search.data.params["best.trial_id"]]
        tests = ("test_acc", "test_f1", "test_precision", "test_recall") if kind == "classification" \
            else ("test_mse", "test_mae", "test_rmse")
        for metric in ("test_loss", *tests):
            assert best[metric] == pytest.approx(search.data.metrics[metric], rel=1e-12)
        # --smoke ran 2 epochs where spec.yaml says more: the base is the resolved spec the
        # search logged, so that is no trial's "change".
        assert not table["change"].fillna("").str.contains("train.epochs").any()
        assert "Every trial ran with train.epochs" not in (out / "comparison.md").read_text()


@pytest.mark.slow
def test_real_cross_table_keeps_task_kinds_apart(real_store):
    client, out = real_store.client, real_store.out
    regression = read_table(out / "best_regression.csv")
    classification = read_table(out / "best_classification.csv")
    assert regression["experiment"].tolist() == ["rnn_units"]
    assert classification["experiment"].tolist() == ["lstm_sentiment"]
    assert "test_acc" not in regression and "test_mse" not in classification
    for table in (regression, classification):
        row = table.iloc[0]
        search = client.get_run(row["run_id"])
        assert row["selection_value"] == pytest.approx(search.data.metrics["best_selection_value"], rel=1e-12)
        assert row["best_trial"] == search.data.params["best.trial_id"]
        for metric in [c for c in table.columns if c.startswith("test_")]:
            assert row[metric] == pytest.approx(search.data.metrics[metric], rel=1e-12)


@pytest.mark.slow
def test_real_report_pictures_and_comparison_run(real_store):
    client, out = real_store.client, real_store.out
    page = (out / "comparison.html").read_text()
    assert_self_contained(page)
    assert page.count("data:image/png;base64,") == 7  # 3 pictures per search + confusion matrices
    assert (out / "confusion_matrices.png").read_bytes().startswith(b"\x89PNG")
    run = client.get_run(real_store.comparison_id)
    assert run.data.tags[record.ROLE] == Role.COMPARISON
    assert run.data.tags[record.COMPARED] == "lstm_sentiment, rnn_units"
    paths = artifact_paths(client, run.info.run_id)
    assert {"comparison.html", "confusion_matrices.png", "rnn_units/learning_curves.png",
            "lstm_sentiment/parallel_coordinates.png", "lstm_sentiment/importance.png"} <= paths


@pytest.mark.slow
def test_real_store_refusals_and_empty_experiment(real_store, tmp_path, capsys):
    uri, client = real_store.uri, real_store.client
    assert main(["rnn_units", "missing", "--tracking-uri", uri, "--out", str(tmp_path / "a")]) == 2
    assert "available: " in capsys.readouterr().err
    client.create_experiment("nothing_yet")
    assert main(["nothing_yet", "rnn_units", "--tracking-uri", uri, "--out", str(tmp_path / "b")]) == 0
    markdown = (tmp_path / "b" / "comparison.md").read_text()
    assert "## nothing_yet" in markdown and "no search runs" in markdown
    assert not math.isnan(pd.read_csv(tmp_path / "b" / "best_regression.csv")["test_rmse"][0])


# --- fast: yardsticks, re-evaluation, number formats ------------------------------------------

def test_each_best_per_gpu_hour_or_per_cpu_hour_without_gpus(store):
    [forecast] = searches_of(store.client, "forecast")
    [sentiment] = searches_of(store.client, "sentiment")
    [row] = best_table([forecast], "regression").to_dict("records")
    assert (row["best_per_hour"], row["per"]) == (pytest.approx(0.12 / 0.5), "CPU-hour")  # no GPU used
    [row] = best_table([sentiment], "classification").to_dict("records")
    assert (row["best_per_hour"], row["per"]) == (pytest.approx(0.62 / 0.25), "GPU-hour")


def test_each_best_sits_beside_its_yardsticks(store):
    [forecast] = searches_of(store.client, "forecast")
    [row] = best_table([forecast], "regression").to_dict("records")
    # FORECAST_TEST: test_mse 0.131 against the linear yardstick's 0.2.
    assert row["baseline_linear_test_mse"] == 0.2
    assert row["against the yardsticks"] == "on test_mse (0.131): beats linear by 1.53x (0.2)"
    assert "reeval_winner" not in row  # no re-evaluation: no such columns


REEVALUATED_TRIALS = [
    ("cccc0001", "finished", {"model.hidden_size": "32"},
     {"train_loss": [0.3, 0.2], "val_loss": [0.25, 0.1234567], "epoch_time_s": [1.0, 1.0]}),
    ("cccc0002", "stopped_at_rung_1", {"model.hidden_size": "64"},
     {"train_loss": [0.4], "val_loss": [0.3], "epoch_time_s": [1.0]}),
]
# The search's best (cccc0001) re-run on seeds 1 and 2; the winner's figures on the search run.
REEVALUATED_TEST = {"test_loss": 0.13, "test_mse": 0.13, "test_mae": 1.0, "test_rmse": 2.0,
                    "baseline_linear_test_mse": 0.1, "best_selection_value": 0.1234567,
                    "reeval_val_loss_mean": 0.15, "reeval_val_loss_std": 0.0141421356,
                    "test_mse_mean": 0.16, "test_mse_std": 0.02, "test_loss_mean": 0.16, "test_loss_std": 0.02,
                    "test_mae_mean": 1.1, "test_mae_std": 0.1, "test_rmse_mean": 2.1, "test_rmse_std": 0.1,
                    "reeval_winner_changed": 0.0}


@pytest.fixture(scope="module")
def reevaluated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reevaluated")
    client = MlflowClient(tracking_uri=f"sqlite:///{folder}/mlflow.db")
    run_id = log_search(client, "reevaluated", "regression", REGRESSION_SPEC, FORECAST_SPACE, REEVALUATED_TRIALS,
                        REEVALUATED_TEST, best="cccc0001", base=FORECAST_BASE)
    client.log_param(run_id, record.REEVAL_WINNER_TRIAL_ID, "cccc0001")
    experiment_id = client.get_run(run_id).info.experiment_id
    for seed, curve in ((1, [0.2, 0.16]), (2, [0.18, 0.14])):
        rerun = client.create_run(experiment_id, run_name=f"rerun{seed}", tags={
            record.ROLE: Role.REEVALUATION, record.PARENT: run_id, record.TRIAL_ID: f"rerun{seed}",
            record.CONFIG_OF: "cccc0001", record.STATUS: Status.FINISHED})
        client.log_batch(rerun.info.run_id, params=[Param("train.seed", str(seed))], metrics=[
            Metric("val_loss", value, 0, epoch) for epoch, value in enumerate(curve, start=1)])
        client.set_terminated(rerun.info.run_id)
    [search] = searches_of(client, "reevaluated")
    return search


def test_reevaluation_runs_are_no_trials_and_show_as_mean_and_std(reevaluated):
    assert [t.trial_id for t in reevaluated.trials] == ["cccc0001", "cccc0002"]
    assert {k: sorted(v) for k, v in reevaluated.reevaluations.items()} == {"cccc0001": [0.14, 0.16]}
    table = trials_table(reevaluated).set_index("trial")
    assert table.loc["cccc0001", "reeval_val_loss_mean"] == pytest.approx(0.15)
    assert table.loc["cccc0001", "reeval_val_loss_std"] == pytest.approx(0.0141421356)
    assert pd.isna(table.loc["cccc0002", "reeval_val_loss_mean"])
    shown = display_trials_table(trials_table(reevaluated), reevaluated)
    assert shown["val_loss over fresh seeds (mean ± std)"].tolist() == ["0.15 ± 0.01414", ""]
    assert shown["ended"].tolist() == ["finished", "stopped_at_rung_1"]


def test_the_best_table_shows_the_reevaluation_and_judges_its_mean(reevaluated):
    table = best_table([reevaluated], "regression")
    [row] = table.to_dict("records")
    assert row["reeval_winner"] == "cccc0001"
    assert (row["test_mse_mean"], row["test_mse_std"]) == (0.16, 0.02)
    # The verdict is on the winner's mean over seeds, the honest figure, not the lucky single test.
    assert row["against the yardsticks"] == "on test_mse (re-evaluation mean: 0.16): loses to linear by 1.6x (0.1)"
    shown = display_best_table(table)
    assert shown.loc[0, "test_mse (mean ± std)"] == "0.16 ± 0.02"
    assert shown.loc[0, "reeval_val_loss (mean ± std)"] == "0.15 ± 0.01414" and "test_mse_std" not in shown
    assert shown.loc[0, "test_mse"] == 0.13 and "run_id" not in shown


def test_report_tables_print_four_significant_digits(reevaluated, tmp_path):
    report = Report("t")
    report.table(display_trials_table(trials_table(reevaluated), reevaluated))
    markdown, page = report.markdown(), report.html()
    assert "0.1235" in markdown and "0.1234567" not in markdown  # best val_loss
    assert "0.1235" in page and "0.1234567" not in page


def test_metric_colour_goes_log_when_values_span_more_than_a_decade():
    # One trial cut early at 0.013 against good ones near 0.0002.
    positions, log = score_scale([0.013, 0.0002, 0.00021, 0.00025])
    assert log and positions[0] == 1.0 and positions[1] == 0.0
    assert positions[3] == pytest.approx(math.log10(1.25) / math.log10(65))  # spread out, not ~0.004
    positions, log = score_scale([0.8, 0.75, 0.7])
    assert not log and positions == pytest.approx([1.0, 0.5, 0.0])
    assert score_scale([-1.0, 20.0])[1] is False  # a non-positive value: no log
    assert score_scale([0.3, 0.3]) == ([0.5, 0.5], False)
