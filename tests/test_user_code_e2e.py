"""A user's own model and task, searched from their own folder on a real local Ray (started
by the search itself, so the user's modules reach its workers through runtime_env), in a
real MLflow store; the best model comes back from the Model Registry and reproduces the
logged test metric. Also: the tweets' best model predicts from raw text."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from search.data.electricity import builtin_series

from search.run import main
from tests.helpers import SPACES, search_and_trial_runs
from tests.user_project import write_user_project

pytestmark = pytest.mark.slow

# Run as a user's script in their folder: two searches in one process (one from the space
# file, one from a dict with overrides), a refused one, then the registered model of the
# second search loaded back and scored on the test split the user's task makes.
SCRIPT = textwrap.dedent('''
    import json, sys, yaml
    import ray
    import torch
    from search import SpecError, run_search
    from search.predict import load_predictor
    from my_tasks import SalesTask

    uri = sys.argv[1]
    first = run_search("space.yaml", tracking_uri=uri)
    ray_after_first = ray.is_initialized()  # its own Ray, stopped while it evaluated and exported
    space = yaml.safe_load(open("space.yaml"))
    second = run_search(space, overrides=["train.epochs=1", "search.seed=1"], tracking_uri=uri)
    # An experiment name the Model Registry refuses ("/"): the model stays on the run, with a warning.
    third = run_search(space, overrides=["train.epochs=1", "tracking.experiment=team/sales"], smoke=True,
                       tracking_uri=uri)
    try:
        run_search({**space, "model": {"name": "models.gru:Missing"}}, tracking_uri=uri)
        refused = None
    except SpecError as err:
        refused = str(err)

    predictor = load_predictor(second.registered_model, tracking_uri=uri)
    task = SalesTask()
    options = task.Options(**predictor.preprocessing["data"])
    x, y = task.splits(task.load(options), options).test
    mse = torch.mean((predictor.outputs(x) - y) ** 2).item()
    print("RESULT " + json.dumps({
        "status": [first.status, second.status], "runs": [first.search_run_id, second.search_run_id],
        "trials": [len(first.trials), len(second.trials)], "best_config": second.best_config,
        "registered": [first.registered_model, second.registered_model],
        "test_mse": second.test_metrics["test_mse"], "reproduced_mse": mse, "refused": refused,
        "unregistered": [third.status, third.model_uri, third.registered_model],
        "ray_left_running": [ray_after_first, ray.is_initialized()]}))
''')


def test_users_model_and_task_from_their_folder(tmp_path):
    write_user_project(tmp_path, builtin_series().to_numpy()[:1500])
    (tmp_path / "use_it.py").write_text(SCRIPT)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    done = subprocess.run([sys.executable, "use_it.py", uri], cwd=tmp_path, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    result = json.loads(done.stdout.split("RESULT ", 1)[1])
    assert result["status"] == ["finished", "finished"]
    assert result["ray_left_running"] == [False, False]  # each search stopped the Ray it started
    assert len(set(result["runs"])) == 2 and result["trials"] == [2, 2]
    assert result["best_config"]["model.name"] == "models.gru:TinyGRU"
    assert result["best_config"]["model.hidden"] in (4, 8) and result["best_config"]["train.epochs"] == 1
    assert result["registered"] == ["models:/sales/1", "models:/sales/2"]  # one version per search
    assert result["reproduced_mse"] == pytest.approx(result["test_mse"], rel=1e-4)
    assert "model.name: 'models.gru:Missing': module 'models.gru' has no attribute 'Missing'" in result["refused"]
    status, model_uri, registered = result["unregistered"]
    assert status == "finished" and model_uri.endswith("/best_model") and registered is None
    assert ("[search] warning: the best model is logged on the search run (runs:/" in done.stderr
            and "but not registered as 'team/sales': Invalid model name" in done.stderr)

    client = MlflowClient(tracking_uri=uri)
    searches, trials = search_and_trial_runs(client, "sales")
    assert len(searches) == 2 and len(trials) == 4  # the refused third search logged nothing
    for trial in trials:  # trained in Ray's workers, which imported the user's modules
        assert trial.info.status == "FINISHED" and trial.data.tags["search.status"] == "finished"
        assert trial.data.tags["ray.node_id"]
        assert trial.data.params["model.name"] == "models.gru:TinyGRU"
    experiment = client.get_experiment_by_name("sales")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"


def test_tweets_best_model_predicts_from_raw_text(workdir, local_ray):
    """The registered model and search.predict, on the raw test tweets, give the logged test_acc."""
    from search.data import get_task
    from search.data.tweets import SMOKE_TWEETS, builtin_tweets, prepare, subset

    from search.predict import load_predictor

    uri = f"sqlite:///{workdir}/mlflow.db"
    assert main([str(SPACES / "bilstm_sentiment.yaml"), "--smoke", "--num-samples", "1", "--set", "train.epochs=1",
                 "--set", "search.scheduler.name=none",
                 "--tracking-uri", uri]) == 0
    searches, _ = search_and_trial_runs(MlflowClient(tracking_uri=uri), "bilstm_sentiment")
    predictor = load_predictor("models:/bilstm_sentiment/1", tracking_uri=uri)
    options = get_task("tweets").Options(**predictor.preprocessing["data"])
    frame = subset(builtin_tweets(), SMOKE_TWEETS, options.seed)  # the tweets the smoke search used
    loaded = prepare(frame["text"].tolist(), frame["airline_sentiment"].tolist(), options, "check",
                     predictor.preprocessing["class_names"])
    test = frame.iloc[loaded.split["test"]]
    predicted = predictor(test["text"].tolist())
    accuracy = float(np.mean(np.array(predicted) == test["airline_sentiment"].to_numpy()))
    assert accuracy == pytest.approx(searches[0].data.metrics["test_acc"], abs=1e-9)
    assert set(predicted) <= {"negative", "neutral", "positive"}
