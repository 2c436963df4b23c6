"""Constraints end to end on a real local Ray, checked through MLflow's client: a trial whose
network breaks a limit on params is not trained; one that breaks a limit on val_loss trains
and is marked; neither is the best."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from search.run import main
from tests.helpers import search_and_trial_runs, write_space

pytestmark = pytest.mark.slow

# simple_rnn with one layer over one feature: hidden 8 has 97 parameters, hidden 32 has 1,153.
# Learning rate 1e-7 leaves a network near its initial val_loss (about 0.02 here), 0.01 brings it
# below 0.015: the limit on val_loss rules out the better-scoring one, so the best must be the other.
LIMITED = """\
name: limited
task: electricity
data: {lookback: 12}
model: {name: simple_rnn, hidden_size: 8, num_layers: 1}
train: {epochs: 2, batch_size: 256, patience: null}
search:
  algorithm: random
  num_samples: 1
  scheduler: {name: none}
  constraints: ["params <= 200", "val_loss >= 0.017"]
space:
  model.hidden_size: {grid: [8, 32]}
  train.lr: {grid: [0.01, 1.0e-7]}
"""


def test_a_limit_on_params_skips_violating_trials_untrained(workdir, local_ray):
    uri = f"sqlite:///{workdir}/mlflow.db"
    assert main([str(write_space(workdir, LIMITED)), "--smoke", "--tracking-uri", uri]) == 0
    client = MlflowClient(tracking_uri=uri)
    [search], trials = search_and_trial_runs(client, "limited")
    assert len(trials) == 4

    wide = [t for t in trials if t.data.params["model.hidden_size"] == "32"]
    assert len(wide) == 2
    for trial in wide:  # refused before its first epoch, with what was measured
        assert trial.data.tags["search.status"] == "infeasible" and trial.info.status == "FINISHED"
        assert trial.data.tags["search.feasible"] == "false"
        assert trial.data.tags["search.violated"] == "params <= 200 (params 1153)"
        assert [(m.step, m.value) for m in client.get_metric_history(trial.info.run_id, "params")] == [(0, 1153.0)]
        assert client.get_metric_history(trial.info.run_id, "latency_ms")[0].value > 0
        assert not client.get_metric_history(trial.info.run_id, "val_loss")  # never trained
        assert "best_checkpoint" not in {a.path for a in client.list_artifacts(trial.info.run_id)}

    narrow = [t for t in trials if t.data.params["model.hidden_size"] == "8"]
    for trial in narrow:  # trained both epochs; feasible as its best val_loss says
        losses = [m.value for m in client.get_metric_history(trial.info.run_id, "val_loss")]
        assert len(losses) == 2 and trial.data.tags["search.status"] == "finished"
        assert trial.data.tags["search.feasible"] == str(min(losses) >= 0.017).lower()
    assert {t.data.tags["search.feasible"] for t in narrow} == {"true", "false"}

    # The best is the one trial that kept every limit, not the better-scoring one that did not.
    [kept] = [t for t in narrow if t.data.tags["search.feasible"] == "true"]
    [off] = [t for t in narrow if t.data.tags["search.feasible"] == "false"]
    assert off.data.metrics["val_loss"] < kept.data.metrics["val_loss"]
    assert search.data.params["best.trial_id"] == kept.data.tags["trial_id"]
    assert search.info.status == "FINISHED"
