"""Population-based training on a real local Ray, checked through MLflow's client: every trial's
run keeps its epochs whole across exploits, records its exploits and values per epoch, and
the best trial's schedule is what the re-evaluation trains again."""

from __future__ import annotations

import csv
import io
import json

import pytest
from mlflow.tracking import MlflowClient

from search import run_search
from search.compare.store import read_artifact
from tests.helpers import search_and_trial_runs

pytestmark = pytest.mark.slow

# A population of 4 (2 trials at a time, taking turns), an exploit decision after every epoch
# for the bottom half; learning rates from barely moving (1e-6) to fast.
SPACE = {
    "name": "population", "task": "electricity", "data": {"lookback": 12},
    "model": {"name": "simple_rnn", "hidden_size": 8, "num_layers": 1},
    "train": {"epochs": 5, "batch_size": 256, "patience": None},
    "search": {"algorithm": "random", "num_samples": 4,
               "scheduler": {"name": "pbt", "perturbation_interval": 1, "quantile": 0.5},
               "reevaluate": {"top_k": 2, "seeds": 2}},
    "space": {"train.lr": {"loguniform": [1e-6, 3e-2]}, "train.weight_decay": {"choice": [0.0, 1e-5, 1e-4]}},
}


def history(client, run_id: str, name: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, name))


def schedule_of(client, run_id: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(read_artifact(client, run_id, "schedule.csv").decode())))


def test_pbt_keeps_every_trials_epochs_whole_across_exploits(workdir, local_ray):
    uri = f"sqlite:///{workdir}/mlflow.db"
    result = run_search(SPACE, tracking_uri=uri)
    assert result.status == "finished"
    client = MlflowClient(tracking_uri=uri)
    [search], trials = search_and_trial_runs(client, "population")
    assert len(trials) == 4 and search.data.params["search.scheduler.name"] == "pbt"

    exploits = {}
    for trial in trials:
        run_id = trial.info.run_id
        steps = [step for step, _ in history(client, run_id, "val_loss")]
        assert steps == list(range(1, 6)), steps  # epochs 1..5, no gap, no repeat
        assert trial.data.tags["search.status"] == "finished"
        counts = [value for _, value in history(client, run_id, "pbt_exploits")]
        assert len(counts) == 5 and counts == sorted(counts)  # a count per epoch, never going back
        exploits[trial.data.tags["trial_id"]] = counts[-1]
        assert [step for step, _ in history(client, run_id, "train.weight_decay")] == steps
        lineage = schedule_of(client, run_id)  # the lineage of its best checkpoint's weights
        assert [int(row["epoch"]) for row in lineage] == list(range(1, len(lineage) + 1))
        assert {"trial", "trial_epoch", "from_trial", "train.lr", "train.weight_decay"} <= set(lineage[0])
    assert sum(exploits.values()) >= 1, exploits

    # An exploited trial trained on from another trial's weights: the epochs after its first exploit
    # ran under the copied trial's perturbed values (each epoch's lr, as logged).
    exploited = next(t for t in trials if exploits[t.data.tags["trial_id"]] >= 1)
    counts = history(client, exploited.info.run_id, "pbt_exploits")
    first = next(step for step, value in counts if value >= 1)
    rates = dict(history(client, exploited.info.run_id, "lr"))
    assert rates[first] != rates[first - 1]

    # The best trial's config records the schedule of its evaluated checkpoint; each
    # re-evaluation seed trained its trial's schedule again from scratch, epoch by epoch.
    schedule = json.loads(result.best_config["pbt.schedule"])
    by_id = {t.data.tags["trial_id"]: t for t in trials}
    assert [float(row["train.lr"]) for row in schedule_of(client, by_id[result.best_trial_id].info.run_id)] == \
        [row["train.lr"] for row in schedule]
    reruns = client.search_runs([search.info.experiment_id], "tags.`search.role` = 'reevaluation'")
    assert len(reruns) == 4 and result.best_trial_id in {r.data.tags["search.config_of"] for r in reruns}
    for rerun in reruns:
        planned = [float(row["train.lr"]) for row in schedule_of(client, by_id[rerun.data.tags["search.config_of"]]
                                                                   .info.run_id)]
        planned += [planned[-1]] * (5 - len(planned))
        assert [value for _, value in history(client, rerun.info.run_id, "lr")] == pytest.approx(planned)
        assert "pbt_exploits" not in rerun.data.metrics
