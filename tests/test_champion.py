"""Shipping the winner: `search.refit` on train + validation, and the registry's aliases
(challenger for every version, champion only when earned)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from search import record
from search.tracking.champion import Judged, decide
from search.tuning.refit import REFIT_SEED_OFFSET, refit_config, train_and_validation
from tests.helpers import REPO, make_trial

YARDSTICKS = {"baseline_majority_test_acc": 0.52, "baseline_tfidf_test_acc": 0.80, "baseline_x_test_f1": 0.99}


def test_a_version_that_beats_every_yardstick_and_there_is_no_champion():
    decision = decide(Judged("1", "test_acc", 0.85, "d1"), YARDSTICKS, None)
    assert decision.champion
    assert decision.reason == ("champion: version 1 (test_acc 0.85) beats every yardstick (majority by 33.0 "
                               "points, tfidf by 5.0 points); there was no champion")


def test_a_version_that_loses_to_a_yardstick_stays_challenger():
    decision = decide(Judged("2", "test_acc", 0.79, "d1"), YARDSTICKS, None)
    assert not decision.champion
    assert decision.reason == "challenger: version 2 (test_acc 0.79) loses by 1.0 points to yardstick tfidf (0.8)"


def test_the_champion_is_beaten_only_on_the_same_data():
    champion = Judged("1", "test_mse", 0.010, "d1")
    lower_error = {"baseline_linear_test_mse": 0.02}
    assert decide(Judged("2", "test_mse", 0.008, "d1"), lower_error, champion).champion
    worse = decide(Judged("2", "test_mse", 0.012, "d1"), lower_error, champion)
    assert not worse.champion and "but loses by 1.2x to the champion version 1 (0.01)" in worse.reason
    tie = decide(Judged("2", "test_mse", 0.010, "d1"), lower_error, champion)
    assert not tie.champion and "but ties the champion version 1" in tie.reason
    # Tested on other data: the champion's figure says nothing of this one; the yardsticks decide.
    other = decide(Judged("2", "test_mse", 0.012, "d2"), lower_error, champion)
    assert other.champion and "tested on other data, so the yardsticks decide" in other.reason


def test_refit_trains_on_train_and_validation_on_a_fresh_seed():
    trial = make_trial("rnn_units.yaml", ["train.epochs=2"], smoke=True)
    merged = train_and_validation(trial.splits)
    assert len(merged.train[0]) == len(trial.splits.train[0]) + len(trial.splits.val[0])
    assert torch.equal(merged.train[0][-len(trial.splits.val[0]):], trial.splits.val[0])
    assert merged.test is trial.splits.test  # untouched
    config = refit_config({"train": {"seed": 4, "patience": 3, "lr": 0.1}, "data": {}, "model": {}})
    assert config["train"] == {"seed": 4 + REFIT_SEED_OFFSET, "patience": None, "lr": 0.1}


# A user's tiny task: two features whose sum's sign is the class. A linear network learns it
# in a few epochs and beats the majority class by far; with `oracle: true` the task adds a
# yardstick that knows the rule (accuracy 1.0), which no network can beat.
GATE = '''
import numpy as np
import torch
from torch import nn
from search.data import Splits, Task, TaskOptions


class GateOptions(TaskOptions):
    oracle: bool = False


class GateTask(Task):
    kind = "classification"
    Options = GateOptions

    def load(self, options, smoke=False):
        x = np.random.default_rng(0).normal(size=(600, 4)).astype(np.float32)
        return {"x": x, "y": (x[:, 0] + x[:, 1] > 0).astype(np.int64)}

    def splits(self, loaded, options):
        x, y = torch.from_numpy(loaded["x"]), torch.from_numpy(loaded["y"])
        return Splits(train=(x[:360], y[:360]), val=(x[360:480], y[360:480]), test=(x[480:], y[480:]),
                      model_inputs=self.model_inputs(options), class_names=["off", "on"])

    def model_inputs(self, options):
        return {"input_size": 4, "num_classes": 2}

    def example_input(self, options):
        return torch.zeros(2, 4)

    def class_names(self, loaded):
        return ["off", "on"]

    def preprocessing(self, loaded, options):
        return {"class_names": ["off", "on"]}

    def baselines(self, loaded, options):
        y = loaded["y"]
        found = {"baseline_majority_test_acc": float((y[480:] == np.bincount(y[:360]).argmax()).mean())}
        if options.oracle:
            found["baseline_oracle_test_acc"] = 1.0
        return found


def linear(input_size: int, num_classes: int) -> nn.Module:
    return nn.Linear(input_size, num_classes)
'''

SCRIPT = textwrap.dedent('''
    import json, sys
    import numpy as np
    from mlflow.tracking import MlflowClient
    from search import run_search
    from search.predict import load_predictor

    uri = sys.argv[1]
    space = {"name": "gate", "task": "gate:GateTask", "model": {"name": "gate:linear"},
             "train": {"epochs": 4, "batch_size": 32, "lr": 0.05, "patience": None},
             "search": {"algorithm": "random", "num_samples": 1, "refit": True, "scheduler": {"name": "none"}},
             "space": {"train.weight_decay": {"grid": [0.0, 0.0001]}}}
    wins = run_search(space, tracking_uri=uri)
    loses = run_search({**space, "data": {"oracle": True}}, tracking_uri=uri)
    again = run_search(space, tracking_uri=uri)  # the same data: judged against the champion too
    client = MlflowClient(tracking_uri=uri)
    champion = client.get_model_version_by_alias("gate", "champion")
    predict = load_predictor("models:/gate@champion", tracking_uri=uri)
    inputs = np.array([[2.0, 1.0, 0.0, 0.0], [-2.0, -1.0, 0.0, 0.0]], dtype=np.float32)
    print("RESULT " + json.dumps({
        "codes": [r.exit_code for r in (wins, loses, again)],
        "decisions": [r.champion_decision for r in (wins, loses, again)],
        "registered": [r.registered_model for r in (wins, loses, again)],
        "refit": wins.refit_metrics, "test": wins.test_metrics, "search_run": wins.search_run_id,
        "champion": str(champion.version),
        "challenger": str(client.get_model_version_by_alias("gate", "challenger").version),
        "tags": [client.get_model_version("gate", v).tags for v in ("1", "2", "3")],
        "predicted": predict(inputs)}))
''')


@pytest.mark.slow
def test_refit_and_the_champion_alias(tmp_path):
    (tmp_path / "gate.py").write_text(GATE)
    (tmp_path / "script.py").write_text(SCRIPT)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    done = subprocess.run([sys.executable, "script.py", uri], cwd=tmp_path, capture_output=True, text=True,
                          timeout=1200, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-3000:]
    [line] = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    result = json.loads(line.removeprefix("RESULT "))
    assert result["codes"] == [0, 0, 0]
    assert result["registered"] == ["models:/gate/1", "models:/gate/2", "models:/gate/3"]
    wins, loses, again = result["decisions"]
    assert wins.startswith("champion: version 1") and "beats every yardstick (majority by" in wins
    assert loses.startswith("challenger: version 2") and "to yardstick oracle (1)" in loses
    assert again.startswith("challenger: version 3") and "the champion version 1" in again
    assert result["champion"] == "1" and result["challenger"] == "3"
    assert [tags[record.CHAMPION_DECISION] for tags in result["tags"]] == [wins, loses, again]
    assert result["predicted"] == ["on", "off"]
    assert result["refit"]["refit_test_acc"] > 0.8 and "refit_test_loss" in result["refit"]
    assert f"registered gate version 2, alias challenger; {loses}" in done.stderr

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    [refit_run] = client.search_runs([client.get_experiment_by_name("gate").experiment_id],
                                     f"tags.`{record.ROLE}` = '{record.Role.REFIT}' and "
                                     f"tags.`{record.PARENT}` = '{result['search_run']}'")
    assert refit_run.data.metrics["refit_test_acc"] == pytest.approx(result["refit"]["refit_test_acc"])
    assert "val_loss" not in refit_run.data.metrics  # its validation rows were training rows
    assert int(refit_run.data.params["train.seed"]) == REFIT_SEED_OFFSET
