"""A search of two objectives on a real local Ray, checked through MLflow's client: exactly the
non-dominated trials are tagged, each scored once on the test split, the member exported is
the one search.select states, and search.compare draws the front."""

from __future__ import annotations

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from search import run_search
from search.compare import main as compare
from tests.helpers import search_and_trial_runs

pytestmark = pytest.mark.slow

SPACE = {
    "name": "front", "task": "electricity", "data": {"lookback": 12},
    "model": {"name": "simple_rnn", "hidden_size": 16, "num_layers": 1},
    "train": {"epochs": 2, "batch_size": 256, "patience": None},
    "search": {"objectives": [{"metric": "val_loss", "mode": "min"}, {"metric": "params", "mode": "min"}],
               "select": {"objective": "val_loss", "within": 0.5},
               "num_samples": 4, "scheduler": {"name": "none"}},
    "space": {"model.hidden_size": {"choice": [2, 4, 8, 32]}, "train.lr": {"loguniform": [1e-3, 3e-2]}},
}


def dominates(a: tuple, b: tuple) -> bool:
    return all(x <= y for x, y in zip(a, b)) and a != b


def test_two_objectives_tag_exactly_the_non_dominated_trials(workdir, local_ray):
    uri = f"sqlite:///{workdir}/mlflow.db"
    result = run_search(SPACE, smoke=True, tracking_uri=uri)
    assert result.status == "finished"
    client = MlflowClient(tracking_uri=uri)
    [search], trials = search_and_trial_runs(client, "front")
    assert len(trials) == 4

    # Each trial at its best epoch by val_loss, read back from MLflow: that epoch's val_loss, its params.
    points = {}
    for trial in trials:
        history = {m.step: m.value for m in client.get_metric_history(trial.info.run_id, "val_loss")}
        best_epoch = min(history, key=lambda step: (history[step], step))
        [params] = client.get_metric_history(trial.info.run_id, "params")
        points[trial.data.tags["trial_id"]] = (history[best_epoch], params.value)
    expected = {t for t, p in points.items() if not any(dominates(q, p) for q in points.values())}
    tagged = {t.data.tags["trial_id"] for t in trials if t.data.tags.get("search.pareto") == "true"}
    assert tagged == expected and len({points[t][1] for t in points}) > 1
    assert search.data.metrics["pareto_size"] == len(expected)

    # Each member scored once on the test split, on its own run; no other trial was.
    for trial in trials:
        scored = "test_mse" in trial.data.metrics
        assert scored == (trial.data.tags["trial_id"] in expected)

    # Exported: the fewest params among the members within 50% of the front's best val_loss.
    best = min(points[t][0] for t in expected)
    close = [t for t in expected if points[t][0] <= best * 1.5]
    chosen = min(close, key=lambda t: (points[t][1], points[t][0], t))
    assert search.data.params["best.trial_id"] == result.best_trial_id == chosen
    exported = next(t for t in trials if t.data.tags["trial_id"] == chosen)
    assert search.data.metrics["test_mse"] == exported.data.metrics["test_mse"]

    # What run_search returns: the front, and the end table with the front first.
    assert set(result.pareto["trial"]) == expected
    assert list(result.pareto["selected"]) == [t == chosen for t in result.pareto["trial"]]
    assert set(result.trials["trial"][:len(expected)]) == expected and result.trials["pareto"][:len(expected)].all()
    logged = {a.path for a in client.list_artifacts(search.info.run_id)}
    assert {"pareto.csv", "trials.csv"} <= logged

    # search.compare writes the front as a table and a picture.
    out = workdir / "comparison"
    assert compare(["front", "--tracking-uri", uri, "--out", str(out)]) == 0
    table = pd.read_csv(out / "front" / "pareto.csv", dtype={"trial": str})
    assert set(table["trial"]) == expected
    for _, row in table.iterrows():
        assert (row["val_loss"], row["params"]) == pytest.approx(points[row["trial"]])
    assert (out / "front" / "pareto.png").stat().st_size > 10_000
