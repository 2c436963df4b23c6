"""A user's own CSVs, by column names, through a real search: Ray trials, MLflow records."""

from __future__ import annotations

import json
import math

import pytest
from mlflow.tracking import MlflowClient
from search.data import get_task

from search.run import main
from tests.helpers import search_and_trial_runs, series_lines, write_lines, write_reviews, write_space

pytestmark = pytest.mark.slow

REVIEWS = """\
name: reviews
task: text
data: {{path: {path}, text_column: review, label_column: stars, classes: ["10", "2", "1"], max_len: 8,
       drop_unlabeled: true}}
model: {{name: lstm, embedding_dim: 8, hidden_size: 8, num_layers: 1}}
train: {{epochs: 1, batch_size: 16}}
search: {{algorithm: random, num_samples: 2, max_concurrent: 2, scheduler: {{name: none}}}}
space:
  data.vocab_size: {{choice: [20, 50]}}
"""

LOAD = """\
name: load
task: series
data: {{path: {path}, value_column: kwh, fill: interpolate, lookback: 12, season: 24}}
model: {{name: simple_rnn, hidden_size: 8, num_layers: 1}}
train: {{epochs: 2, batch_size: 64, patience: null}}
search: {{algorithm: random, num_samples: 2, max_concurrent: 2, scheduler: {{name: none}}}}
space:
  train.lr: {{choice: [0.01, 0.003]}}
"""


def artifact_json(client: MlflowClient, run_id: str, name: str, folder) -> dict:
    return json.loads(open(client.download_artifacts(run_id, name, str(folder))).read())


def finished_search(uri: str, experiment: str, task: str):
    """The search run and its two trial runs, all finished, the task logged by the name given."""
    client = MlflowClient(tracking_uri=uri)
    (search,), trials = search_and_trial_runs(client, experiment)
    assert search.info.status == "FINISHED" and search.data.tags["search.task"] == task
    assert len(trials) == 2 and all(t.data.tags["search.status"] == "finished" for t in trials)
    return client, search, trials


def test_a_text_csv_with_its_own_columns_and_classes(workdir, local_ray, capsys):
    uri = f"sqlite:///{workdir}/mlflow.db"
    # Two of the 32 rows without a rating: dropped, as the space asks, and said so.
    path = write_reviews(workdir / "reviews.csv", extra=[("", "not rated"), ("", "no stars given")])
    assert main([str(write_space(workdir, REVIEWS.format(path=path))), "--tracking-uri", uri]) == 0
    out = capsys.readouterr().out
    assert f"task text, {path}: 30 texts (10 10 / 10 2 / 10 1), 2 rows without a label dropped, split 16/5/9" in out

    client, search, trials = finished_search(uri, "reviews", "text")
    for trial in trials:
        assert trial.data.params["data.label_column"] == "stars"
        assert trial.data.params["data.drop_unlabeled"] == "True"
        val = artifact_json(client, trial.info.run_id, "confusion_matrix_val.json", workdir)
        assert val["classes"] == ["10", "2", "1"] and sum(map(sum, val["matrix"])) == 5  # 30 * 0.7 * 0.2
    test = artifact_json(client, search.info.run_id, "confusion_matrix_test.json", workdir)
    assert test["classes"] == ["10", "2", "1"]
    assert [sum(row) for row in test["matrix"]] == [3, 3, 3]  # stratified: 30% of each class
    metrics = search.data.metrics
    for name in ("test_loss", "test_acc", "test_f1", "test_precision", "test_recall",
                 "baseline_tfidf_test_acc"):
        assert math.isfinite(metrics[name]), name
    assert metrics["test_acc"] == pytest.approx(sum(test["matrix"][i][i] for i in range(3)) / 9)


def test_a_series_csv_with_a_gap_filled(workdir, local_ray, capsys):
    uri = f"sqlite:///{workdir}/mlflow.db"
    lines = series_lines()
    del lines[101:104]  # three hours missing: filled by interpolation
    path = write_lines(workdir / "load.csv", lines)
    assert main([str(write_space(workdir, LOAD.format(path=path))), "--tracking-uri", uri]) == 0
    out = capsys.readouterr().out
    assert "task series, series kwh: 400 steps of 1h, 3 interpolated, seasonal naive 24 steps back" in out

    client, search, trials = finished_search(uri, "load", "series")
    for trial in trials:
        assert trial.data.params["data.value_column"] == "kwh"
        assert len(client.get_metric_history(trial.info.run_id, "val_rmse")) == 2
    metrics = search.data.metrics
    for name in ("test_mse", "test_mae", "test_rmse", "baseline_persistence_test_mse",
                 "baseline_seasonal_naive_test_mae", "baseline_linear_test_mse"):
        assert math.isfinite(metrics[name]), name
    # RMSE in kWh: the scaled error times the range of the training part, as read from the file.
    task = get_task("series")
    loaded = task.load(task.Options(path=str(path), value_column="kwh", fill="interpolate", lookback=12))
    assert metrics["test_rmse"] == pytest.approx(math.sqrt(metrics["test_mse"]) * loaded.scale, rel=1e-3)
