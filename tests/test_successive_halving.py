"""Successive halving and the re-evaluation, end to end on a real local Ray, read back from MLflow.

Successive halving pauses trials at a rung and resumes them from their checkpoints; the
record must stay exact across that, and across an interrupted and resumed search: one run
per trial, each epoch once, statuses that say what happened.
"""

from __future__ import annotations

import copy
import signal
import statistics

import pytest
import yaml
from mlflow.tracking import MlflowClient

from search import record
from search.api import run_search
from search.record import Role, Status
from tests.helpers import search_and_trial_runs, write_space
from tests.test_fault_tolerance import cli, wait_for

pytestmark = pytest.mark.slow

# Four trials in one bracket: rungs at epochs 1 and 2, two go on from the first, one from the
# second. Small batches make an epoch last a few seconds, so a paused trial can be seen.
HALVING = {
    "name": "halving", "task": "electricity", "data": {"lookback": 24},
    "model": {"name": "simple_rnn", "hidden_size": 16, "num_layers": 1},
    "train": {"epochs": 3, "batch_size": 16, "optimizer": "adam", "patience": None},
    "search": {"algorithm": "optuna", "num_samples": 4, "max_concurrent": 2,
               "scheduler": {"name": "successive_halving", "grace_period": 1, "reduction_factor": 2}},
    "space": {"model.hidden_size": {"choice": [8, 16]}, "train.lr": {"choice": [0.003, 0.0003]}},
}


def space_text(space: dict, **changes) -> str:
    """The space as YAML, with keys changed (search__max_concurrent=1 sets search.max_concurrent)."""
    space = copy.deepcopy(space)
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        node = space
        for part in path:
            node = node[part]
        node[last] = value
    return yaml.safe_dump(space, sort_keys=False)


def statuses_of(client, experiment: str, role: str = Role.TRIAL) -> dict[str, tuple[str, str]]:
    """run id -> (search.status tag, MLflow run state) of the experiment's runs of `role`."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return {}
    runs = client.search_runs([found.experiment_id], f"tags.`{record.ROLE}` = '{role}'", max_results=1000)
    return {r.info.run_id: (r.data.tags.get(record.STATUS), r.info.status) for r in runs}


def ctrl_c_after(process, *waits) -> tuple[str, list]:
    """Waits for each (condition, what) in turn, then Ctrl+C: Tune stops, the search ends its
    runs. The output and what each wait found."""
    found = []
    try:
        for condition, what in waits:
            found.append(wait_for(condition, 300, what))
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, out[-3000:]
    return out, found


def epochs_logged(client, run_id: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, "val_loss"))


def assert_exact_record(client, trials, epochs: int):
    """Every trial: one run, epochs 1..n each once (every curve), a status that fits them."""
    assert len({t.data.tags[record.TRIAL_ID] for t in trials}) == len(trials)
    for trial in trials:
        status, steps = trial.data.tags[record.STATUS], epochs_logged(client, trial.info.run_id)
        assert steps == list(range(1, len(steps) + 1)), (trial.data.tags[record.TRIAL_ID], steps)
        for name in ("train_loss", "val_mae", "epoch_time_s"):
            assert epochs_logged(client, trial.info.run_id) == steps or \
                sorted(m.step for m in client.get_metric_history(trial.info.run_id, name)) == steps
        assert trial.info.status == "FINISHED", (status, trial.info.status)
        if status == Status.FINISHED:
            assert len(steps) == epochs
        else:
            assert status == Status.stopped_at_rung(len(steps)) and len(steps) in (1, 2), (status, steps)


def test_paused_trials_resume_with_an_exact_record_also_across_an_interruption(workdir):
    uri = f"sqlite:///{workdir}/mlflow.db"
    path = write_space(workdir, space_text(HALVING))
    client = MlflowClient(tracking_uri=uri)

    _, (paused, _) = ctrl_c_after(
        cli(str(path), "--tracking-uri", uri, cwd=workdir),
        # The first two trials wait at rung 1 while the other two train their first epoch.
        (lambda: [run for run, (status, state) in statuses_of(client, "halving").items()
                  if status == Status.PAUSED and state == "RUNNING"], "a paused trial"),
        # Once the bracket has reached rung 1, a paused trial that goes on is promoted.
        (lambda: Status.PROMOTED in {s for s, _ in statuses_of(client, "halving").values()}, "a promoted trial"))
    assert paused[0] in statuses_of(client, "halving")
    searches, trials = search_and_trial_runs(client, "halving")
    assert searches[0].info.status == "KILLED"
    assert all(t.info.status != "RUNNING" for t in trials)  # nothing left half-written
    unfinished = [t for t in trials if t.data.tags[record.STATUS] == Status.INTERRUPTED]
    assert unfinished and all(t.info.status == "KILLED" for t in unfinished)
    logged_before = {t.data.tags[record.TRIAL_ID]: epochs_logged(client, t.info.run_id) for t in trials}

    second = cli(str(path), "--resume", cwd=workdir)
    out, _ = second.communicate(timeout=420)
    assert second.returncode == 0, out[-3000:]
    searches, trials = search_and_trial_runs(client, "halving")
    assert len(searches) == 1 and searches[0].info.status == "FINISHED"
    assert len(trials) == 4  # the same runs: none repeated, none lost
    assert_exact_record(client, trials, epochs=3)
    for trial in trials:  # the resumed trials went on from their checkpoints
        before = logged_before.get(trial.data.tags[record.TRIAL_ID], [])
        assert epochs_logged(client, trial.info.run_id)[:len(before)] == before
    statuses = sorted(t.data.tags[record.STATUS] for t in trials)
    assert Status.FINISHED in statuses and any(s.startswith(Status.STOPPED_AT_RUNG) for s in statuses)
    assert "stopped_at_rung_" in out and "Against the yardsticks, on test_mse" in out


# Two configurations, each trained again on two fresh seeds (train.seed 1 and 2).
REEVALUATE = {
    **HALVING, "name": "reeval", "data": {"lookback": 12},
    "model": {"name": "simple_rnn", "hidden_size": 8, "num_layers": 1},
    "train": {**HALVING["train"], "epochs": 2, "batch_size": 256},
    "search": {**HALVING["search"], "num_samples": 3, "scheduler": {"name": "none"},
               "reevaluate": {"top_k": 2, "seeds": 2}},
    "space": {"train.lr": {"choice": [0.02, 0.005, 0.0005]}},
}


def best_epoch(client, run_id: str, metric: str = "val_loss") -> float:
    return min(m.value for m in client.get_metric_history(run_id, metric))


def check_reevaluation_record(client, experiment: str) -> tuple[object, list, dict]:
    """The rule on the logged numbers: nested runs per top trial and seed, the winner by the
    mean, mean and std as logged; returns the search run, the re-evaluation runs, the means."""
    searches, trials = search_and_trial_runs(client, experiment)
    (search,) = searches
    found = client.get_experiment_by_name(experiment)
    reruns = client.search_runs([found.experiment_id], f"tags.`{record.ROLE}` = '{Role.REEVALUATION}'")
    assert len(reruns) == 4
    ranked = sorted(trials, key=lambda t: best_epoch(client, t.info.run_id))
    top = [t.data.tags[record.TRIAL_ID] for t in ranked[:2]]
    by_config: dict[str, dict[int, float]] = {}
    for run in reruns:
        assert run.data.tags[record.PARENT] == search.info.run_id and run.info.status == "FINISHED"
        assert run.data.tags[record.STATUS] == Status.FINISHED
        assert epochs_logged(client, run.info.run_id) == [1, 2]
        seed = int(run.data.params["train.seed"])
        by_config.setdefault(run.data.tags[record.CONFIG_OF], {})[seed] = best_epoch(client, run.info.run_id)
    assert sorted(by_config) == sorted(top) and all(sorted(s) == [1, 2] for s in by_config.values())
    means = {trial: statistics.fmean(values.values()) for trial, values in by_config.items()}
    winner = min(means, key=means.get)
    params, metrics = search.data.params, search.data.metrics
    assert params["reeval_winner_trial_id"] == winner
    assert metrics["reeval_winner_changed"] == float(winner != params["best.trial_id"])
    assert params["best.trial_id"] == top[0]
    assert metrics["reeval_val_loss_mean"] == pytest.approx(means[winner])
    assert metrics["reeval_val_loss_std"] == pytest.approx(statistics.stdev(by_config[winner].values()))
    winner_runs = [r for r in reruns if r.data.tags[record.CONFIG_OF] == winner]
    for name in ("test_mse", "test_mae", "test_rmse", "test_loss"):
        values = [r.data.metrics[name] for r in winner_runs]
        assert metrics[f"{name}_mean"] == pytest.approx(statistics.fmean(values))
        assert metrics[f"{name}_std"] == pytest.approx(statistics.stdev(values))
    assert all("test_mse" not in r.data.metrics for r in reruns if r.data.tags[record.CONFIG_OF] != winner)
    return search, reruns, means


def test_reevaluation_reruns_the_top_configurations_and_crowns_the_best_mean(workdir, local_ray, capsys):
    uri = f"sqlite:///{workdir}/mlflow.db"
    result = run_search(write_space(workdir, space_text(REEVALUATE)), tracking_uri=uri)
    assert result.status == "finished"
    client = MlflowClient(tracking_uri=uri)
    search, reruns, means = check_reevaluation_record(client, "reeval")
    assert result.reeval_winner_trial_id == search.data.params["reeval_winner_trial_id"]
    assert result.reeval_metrics["reeval_val_loss_mean"] == pytest.approx(search.data.metrics["reeval_val_loss_mean"])
    table = result.reevaluation.set_index("trial")
    assert table["mean"].to_dict() == pytest.approx(means) and table["winner"].sum() == 1
    # The trials table shows mean ± std beside the re-evaluated trials.
    assert {"reeval_val_loss_mean", "reeval_val_loss_std"} <= set(result.trials.columns)
    assert result.trials["reeval_val_loss_mean"].notna().sum() == 2
    out = capsys.readouterr().out
    assert "Re-evaluated: the top 2 by val_loss" in out and " ± " in out
    assert f"winner {result.reeval_winner_trial_id}, its 2 seeds" in out
    # The exported model is one of the winner's seeds.
    assert result.model_uri == f"runs:/{search.info.run_id}/best_model"


def test_an_interrupted_reevaluation_resumes_without_redoing_finished_runs(workdir):
    uri = f"sqlite:///{workdir}/mlflow.db"
    # One run at a time, slower epochs: one re-evaluation run ends while the next one trains.
    path = write_space(workdir, space_text(REEVALUATE, search__max_concurrent=1, search__num_samples=2,
                                           train__batch_size=16))
    client = MlflowClient(tracking_uri=uri)
    def one_done_one_training():
        runs = statuses_of(client, "reeval", Role.REEVALUATION)
        done = [run for run, (status, _) in runs.items() if status == Status.FINISHED]
        return done if done and any(state == "RUNNING" for _, state in runs.values()) else None

    _, (done,) = ctrl_c_after(cli(str(path), "--tracking-uri", uri, cwd=workdir),
                              (one_done_one_training, "a finished re-evaluation run and one training"))
    runs = statuses_of(client, "reeval", Role.REEVALUATION)
    assert all(state != "RUNNING" for _, state in runs.values())  # nothing left half-written
    assert any(status == Status.INTERRUPTED and state == "KILLED" for status, state in runs.values())
    searches, _ = search_and_trial_runs(client, "reeval")
    assert searches[0].info.status == "KILLED"

    second = cli(str(path), "--resume", cwd=workdir)
    out, _ = second.communicate(timeout=420)
    assert second.returncode == 0, out[-3000:]
    assert "done before" in out
    _, reruns, _ = check_reevaluation_record(client, "reeval")
    assert set(done) <= {r.info.run_id for r in reruns}  # finished runs kept, not trained again
