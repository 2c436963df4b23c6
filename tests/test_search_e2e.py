"""End to end on a real local Ray cluster, checked through MLflow's client."""

from __future__ import annotations

import mlflow
import pytest
from mlflow.entities import LoggedModelStatus
from mlflow.models import Model
from mlflow.tracking import MlflowClient

from search.run import main
from search.tracking.lineage import logged_data_digest
from tests.helpers import SPACES, search_and_trial_runs, write_space

pytestmark = pytest.mark.slow

# A grid in a fixed order, so ASHA's decisions are certain: a good learning rate, two
# that barely learn (the second is cut at the first rung; the first runs beside the good
# one, so whether it is cut at rung 1 or 2 depends on which reports first), and one
# that diverges.
STAGED = """\
name: staged
task: electricity
data: {lookback: 12}
model: {name: simple_rnn, hidden_size: 16, num_layers: 2}
train: {epochs: 3, batch_size: 128, optimizer: sgd, patience: null}
search:
  algorithm: random
  num_samples: 1
  max_concurrent: 2
  scheduler: {name: asha, grace_period: 1, reduction_factor: 2}
space:
  train.lr: {grid: [0.01, 1.0e-7, 1.0e-7, 1.0e+9]}
"""


def runs_of(uri: str, experiment: str):
    client = MlflowClient(tracking_uri=uri)
    searches, trials = search_and_trial_runs(client, experiment)
    assert searches, f"no search run in experiment {experiment!r}"
    return client, searches, trials


def test_staged_search_records_every_ending(workdir, local_ray):
    uri = f"sqlite:///{workdir}/mlflow.db"
    path = write_space(workdir, STAGED)
    assert main([str(path), "--tracking-uri", uri]) == 0

    client, searches, trials = runs_of(uri, "staged")
    assert len(searches) == 1 and len(trials) == 4
    search = searches[0]
    assert search.info.status == "FINISHED"
    assert all(t.data.tags["mlflow.parentRunId"] == search.info.run_id for t in trials)
    assert all(t.info.status != "RUNNING" for t in trials)

    by_lr = sorted(trials, key=lambda t: float(t.data.params["train.lr"]))
    statuses = [t.data.tags["search.status"] for t in by_lr]
    assert statuses[-1] == "failed" and by_lr[-1].info.status == "FAILED"
    assert "train_loss is" in by_lr[-1].data.tags["search.error"]
    assert statuses[2] == "finished"  # lr 0.01 runs its 3 epochs
    assert "asha_stopped" in statuses[:2]  # a second copy of the weak config is cut at rung 1

    cut_at = []
    for trial in trials:
        status = trial.data.tags["search.status"]
        if status == "failed":
            continue
        history = client.get_metric_history(trial.info.run_id, "val_loss")
        steps = sorted(m.step for m in history)
        assert steps == list(range(1, len(steps) + 1))  # one value per epoch, from 1, no gap
        if status == "finished":
            assert len(steps) == 3
        else:
            cut_at.append(len(steps))
        for name in ("train_loss", "val_mae", "val_rmse", "epoch_time_s"):
            assert len(client.get_metric_history(trial.info.run_id, name)) == len(steps)
        assert trial.data.params["model_params"] == "865"  # RNN(1,16) 304 + RNN(16,16) 544 + Linear 17
        # Its measured costs: known before training once at step 0, the others every epoch.
        cost = {name: client.get_metric_history(trial.info.run_id, name)
                for name in ("params", "latency_ms", "epoch_seconds", "peak_memory_mb")}
        assert [(m.step, m.value) for m in cost["params"]] == [(0, 865.0)]
        assert [m.step for m in cost["latency_ms"]] == [0] and cost["latency_ms"][0].value > 0
        for name in ("epoch_seconds", "peak_memory_mb"):
            assert sorted(m.step for m in cost[name]) == steps and all(m.value > 0 for m in cost[name])
        assert trial.data.tags["ray.node_id"]
        artifacts = {a.path for a in client.list_artifacts(trial.info.run_id)}
        assert {"learning_curve.png", "best_checkpoint"} <= artifacts
    assert cut_at and min(cut_at) == 1 and max(cut_at) < 3  # cut at a rung (1 or 2), never run out

    # The best (lr 0.01) was evaluated once on the test split, with the yardsticks beside it.
    metrics = search.data.metrics
    assert search.data.params["best.train.lr"] == "0.01"
    assert metrics["test_mse"] == pytest.approx(metrics["test_loss"], rel=1e-4)
    assert 0 < metrics["test_mse"] < 1
    for name in ("persistence", "seasonal_naive", "linear"):
        assert f"baseline_{name}_test_mse" in metrics
    assert metrics["trials_failed"] == 1
    artifacts = {a.path for a in client.list_artifacts(search.info.run_id)}
    assert {"spec.yaml", "trials.csv", "trials.md"} <= artifacts

    # The data is a dataset input of the search run and of every trial run, one digest.
    digest = logged_data_digest(client.get_run(search.info.run_id))
    assert digest and len(digest) == 16
    assert {logged_data_digest(client.get_run(t.info.run_id)) for t in trials} == {digest}


def test_shipped_space_smoke_with_optuna(workdir, local_ray, capfd):
    uri = f"sqlite:///{workdir}/mlflow.db"
    assert main([str(SPACES / "rnn_units.yaml"), "--smoke", "--tracking-uri", uri]) == 0
    out, err = capfd.readouterr()  # the file descriptors: MLflow's logging writes there too
    assert "Best trial" in out and "baseline_linear_test_mse" in out
    assert "#/experiments/" in out and "?workflowType=machine_learning" in out

    client, searches, trials = runs_of(uri, "rnn_units")
    assert len(searches) == 1 and len(trials) == 4
    search = searches[0]
    assert search.data.params["search.algorithm"] == "optuna"
    assert search.data.params["smoke"] == "True"
    sampled = {(t.data.params["model.hidden_size"], t.data.params["train.optimizer"]) for t in trials}
    assert len(sampled) > 1  # Optuna proposed different configurations
    for trial in trials:
        assert trial.data.tags["search.status"] in {"finished", "asha_stopped", "early_stopped"}
        assert trial.data.params["train.epochs"] == "2"
    best = search.data.params["best.trial_id"]
    assert best in {t.data.tags["trial_id"] for t in trials}
    assert "test_rmse" in search.data.metrics and search.info.status == "FINISHED"

    # The best model is logged as MLflow 3 logs one, a LoggedModel of the search run, and
    # registered by its model URI: MLflow has nothing to warn about, and the version is that model.
    assert "has no artifacts at artifact path" not in err
    assert "Downloading artifacts" not in err  # no progress bar for the search's own small reads
    (logged,) = client.search_logged_models(experiment_ids=[search.info.experiment_id])
    assert (logged.name, logged.source_run_id, logged.status) == (
        "best_model", search.info.run_id, LoggedModelStatus.READY)
    assert logged.model_id in {o.model_id for o in search.outputs.model_outputs}
    version = client.get_model_version("rnn_units", "1")
    assert (version.source, version.run_id) == (f"models:/{logged.model_id}", search.info.run_id), version
    files = mlflow.artifacts.list_artifacts(f"runs:/{search.info.run_id}/best_model", tracking_uri=uri)
    assert "best_model/MLmodel" in {f.path for f in files}
    mlmodel = mlflow.artifacts.download_artifacts(f"{logged.artifact_location}/MLmodel", dst_path=str(workdir))
    assert Model.load(mlmodel).model_id == logged.model_id  # the model's own file names it


def test_optuna_never_trains_one_configuration_twice(workdir, local_ray):
    # Six trials over six combinations: six random draws (Optuna's start) almost always
    # repeat one (all differ with probability 6!/6**6, under 2%).
    uri = f"sqlite:///{workdir}/mlflow.db"
    assert main([str(SPACES / "rnn_units.yaml"), "--num-samples", "6",
                 "--set", "search.scheduler.name=none",
                 "--set", "space={model.hidden_size: {choice: [32, 64, 128]}, "
                          "train.optimizer: {choice: [sgd, adam]}}",
                 "--set", "train.epochs=1", "--tracking-uri", uri]) == 0
    _, _, trials = runs_of(uri, "rnn_units")
    combos = {(t.data.params["model.hidden_size"], t.data.params["train.optimizer"]) for t in trials}
    assert len(trials) == 6 and len(combos) == 6


def test_sentiment_smoke_logs_classification_metrics_and_confusion(workdir, local_ray, capsys):
    uri = f"sqlite:///{workdir}/mlflow.db"
    assert main([str(SPACES / "bilstm_sentiment.yaml"), "--smoke", "--num-samples", "2",
                 "--tracking-uri", uri]) == 0
    assert "baseline_tfidf_test_acc" in capsys.readouterr().out
    client, searches, trials = runs_of(uri, "bilstm_sentiment")
    search = searches[0]
    for name in ("test_acc", "test_f1", "test_precision", "test_recall", "baseline_tfidf_test_acc",
                 "baseline_tfidf_test_f1"):
        assert 0 <= search.data.metrics[name] <= 1, name
    assert "confusion_matrix_test.png" in {a.path for a in client.list_artifacts(search.info.run_id)}
    for trial in trials:
        for name in ("train_acc", "val_acc", "val_f1"):
            history = client.get_metric_history(trial.info.run_id, name)
            assert len(history) >= 1 and all(0 <= m.value <= 1 for m in history)
        assert "confusion_matrix_val.png" in {a.path for a in client.list_artifacts(trial.info.run_id)}


@pytest.mark.parametrize("space", ["vgg13_regularization.yaml", "resnet18.yaml"])
def test_image_spaces_smoke(workdir, local_ray, space, capsys):
    uri = f"sqlite:///{workdir}/mlflow.db"
    assert main([str(SPACES / space), "--smoke", "--num-samples", "2", "--set", "train.epochs=1",
                 "--set", "search.scheduler.grace_period=1", "--tracking-uri", uri]) == 0
    name = space.removesuffix(".yaml")
    client, searches, trials = runs_of(uri, name)
    assert len(trials) == 2
    metrics = searches[0].data.metrics
    assert 0 <= metrics["test_acc"] <= 1
    # The pixel yardstick, logged and judged as the other tasks' yardsticks are.
    assert 0 < metrics["baseline_pixels_test_acc"] <= 1 and 0 < metrics["baseline_pixels_test_f1"] <= 1
    verdict = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("Against the yardsticks"))
    assert verdict.startswith("Against the yardsticks, on test_acc (best trial: ") and "pixels" in verdict
    for trial in trials:
        assert int(trial.data.params["model_params"]) > 1_000_000  # the full networks, not toys
        assert "confusion_matrix_val.png" in {a.path for a in client.list_artifacts(trial.info.run_id)}
