"""A search's record: what made it (capsule), what each trial used, and `search.reproduce`
training a logged trial again from that record alone, on a real local Ray and MLflow."""

from __future__ import annotations

import time

import pytest
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from search import record
from search.reproduce import main as reproduce
from search.run import main as run_search
from search.tracking.lineage import logged_data_digest
from tests.helpers import search_and_trial_runs, series_lines, write_lines, write_space

pytestmark = pytest.mark.slow

SPACE = """\
name: load
task: series
data: {{path: {path}, value_column: kwh, lookback: 12, season: 24}}
model: {{name: simple_rnn, hidden_size: 8, num_layers: 2}}
train: {{epochs: 2, batch_size: 64, patience: null, seed: 7}}
search: {{algorithm: random, num_samples: 2, max_concurrent: 2, scheduler: {{name: none}}}}
space:
  model.dropout: {{choice: [0.0, 0.3]}}
"""


@pytest.fixture
def logged_search(workdir, local_ray):
    uri = f"sqlite:///{workdir}/mlflow.db"
    csv = write_lines(workdir / "load.csv", series_lines(300))
    assert run_search([str(write_space(workdir, SPACE.format(path=csv))), "--tracking-uri", uri]) == 0
    client = MlflowClient(tracking_uri=uri)
    (search,), trials = search_and_trial_runs(client, "load")
    return uri, client, search, trials, csv


def test_the_record_and_a_reproduction_of_it(logged_search, workdir, capsys, monkeypatch):
    uri, client, search, trials, csv = logged_search
    tags = search.data.tags
    assert {f"{record.VERSION_PREFIX}{n}" for n in ("python", "torch", "ray", "mlflow", "optuna", "platform")} \
        <= set(tags)
    assert tags[record.PLATFORM_COMMIT] and tags[record.PLATFORM_DIRTY] in ("true", "false")
    assert tags[record.DEVICE_CPU] and tags[record.DEVICE_GPU_COUNT] == "0"
    with open(client.download_artifacts(search.info.run_id, record.PIP_FREEZE, str(workdir))) as handle:
        freeze = handle.read()
    assert any(line.startswith("torch==") for line in freeze.splitlines())
    assert logged_data_digest(search) is not None
    assert search.data.metrics[record.SEARCH_CPU_HOURS] > 0
    assert search.data.metrics[record.SEARCH_GPU_HOURS] == 0

    totals = 0.0
    for trial in trials:
        assert logged_data_digest(trial) == logged_data_digest(search)
        for name in (record.TRIAL_CPU_PERCENT, record.TRIAL_RSS_MB):
            steps = [m.step for m in client.get_metric_history(trial.info.run_id, name)]
            assert sorted(steps) == [1, 2]  # every epoch
        assert trial.data.metrics[record.TRIAL_RSS_MB] > 10
        cpu_seconds = client.get_metric_history(trial.info.run_id, record.TRIAL_CPU_SECONDS)
        assert [m.step for m in cpu_seconds] == [2] and cpu_seconds[0].value > 0  # once, at the end
        totals += cpu_seconds[0].value
    assert search.data.metrics[record.SEARCH_CPU_HOURS] == pytest.approx(totals / 3600)

    # Trained again from the record alone, in another folder: the same numbers, printed and logged.
    elsewhere = workdir / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    dropout = max(trials, key=lambda t: float(t.data.params["model.dropout"]))  # draws from torch's RNG
    capsys.readouterr()
    assert reproduce([dropout.info.run_id, "--tracking-uri", uri, "--log"]) == 0
    out = capsys.readouterr().out
    logged_loss = client.get_metric_history(dropout.info.run_id, "val_loss")
    assert f"{logged_loss[-1].value:.9g}" in out
    assert "verdict: same: every logged epoch within 1e-06 relative (on CPU)" in out
    runs = client.search_runs([search.info.experiment_id],
                              f"tags.`{record.ROLE}` = '{record.Role.REPRODUCTION}'")
    assert len(runs) == 1 and runs[0].data.tags[record.PARENT] == dropout.info.run_id
    assert runs[0].data.tags[record.REPRODUCTION_VERDICT].startswith("same")

    # A logged value that no training gives: exit 1, naming the first epoch and metric that differ.
    client.log_batch(dropout.info.run_id, metrics=[Metric("val_mae", 123.0, int(time.time() * 1000) + 1000, 2)])
    assert reproduce([dropout.info.run_id, "--tracking-uri", uri]) == 1
    assert "verdict: differs on CPU: first at epoch 2, val_mae: logged 123, reproduced" in capsys.readouterr().out

    # The data changed since: refused before training, naming the digests.
    csv.write_text(csv.read_text().replace(",1", ",2", 1))
    assert reproduce([dropout.info.run_id, "--tracking-uri", uri]) == 2
    captured = capsys.readouterr()
    assert "error: the data's digest is " in captured.err and logged_data_digest(search) in captured.err
    assert "verdict" not in captured.out and captured.err.count("\n") == 1

    assert reproduce([search.info.run_id, "--tracking-uri", uri]) == 2
    assert "a search run; search.reproduce trains a trial" in capsys.readouterr().err
