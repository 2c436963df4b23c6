"""Crashes cost no finished work: resume after SIGKILL, a lost node, shared storage, GPU shares."""

from __future__ import annotations

import gc
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from mlflow.tracking import MlflowClient

from search import record
from search.cluster.ray_cluster import own_ray_settings
from search.cluster.storage import check_storage_reaches_every_node
from search.errors import SpecError
from search.record import Status
from search.run import main
from search.space.spec import apply_overrides, read_yaml
from search.space.validation import load_spec
from search.tracking.tracker import Tracker, TrialLogger
from search.trial.checkpoints import CheckpointRefused, load_checkpoint_folder
from search.trial.trainable import CHECKPOINT_FILE
from search.tuning.resume import ResumeRecord, check_same_as_started, write_record
from search.tuning.stale_checkpoints import RepairStaleCheckpoints, newest_complete_checkpoint
from tests.helpers import REPO, search_and_trial_runs, write_space

# Slow enough per epoch (small batches) that a search can be caught mid-way.
TINY = """\
name: tiny
task: electricity
data: {lookback: 24}
model: {name: simple_rnn, hidden_size: 16, num_layers: 2}
train: {epochs: 4, batch_size: 16, optimizer: adam, lr: 0.003, patience: null}
search:
  algorithm: optuna
  num_samples: 6
  max_concurrent: 2
  scheduler: {name: none}
  max_failures: 3
space:
  model.hidden_size: {choice: [8, 16, 24]}
  train.lr: {loguniform: [1.0e-3, 1.0e-2]}
"""

# Bounds on waiting, not on speed: with its 2 cores shared by other work, the test machine
# has taken 40 s for an epoch of TINY that takes 3 s when idle (and 4 minutes to finish one
# trial), so the bounds leave room for that.
PROGRESS_S, SEARCH_S = 600, 900


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def assert_clean_histories(client: MlflowClient, trials, epochs: int):
    for trial in trials:
        assert trial.info.status == "FINISHED", trial.data.tags.get(record.ERROR, trial.data.tags)
        assert trial.data.tags[record.STATUS] == Status.FINISHED
        for name in ("train_loss", "val_loss"):
            steps = [m.step for m in client.get_metric_history(trial.info.run_id, name)]
            assert sorted(steps) == list(range(1, epochs + 1)), (trial.data.tags[record.TRIAL_ID], name, steps)


def cli(*args: str, cwd, env=None, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "search.run", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


@pytest.mark.slow
def test_resume_after_sigkill_keeps_one_run_per_trial(workdir):
    uri = f"sqlite:///{workdir}/mlflow.db"
    path = write_space(workdir, TINY)
    client = MlflowClient(tracking_uri=uri)

    def half_way(trials, most: int = 4) -> list[str]:
        # Two epochs logged: Tune's saved state knows at least the first checkpoint.
        return [t.data.tags[record.TRIAL_ID] for t in trials if t.info.status == "RUNNING"
                and 2 <= len(client.get_metric_history(t.info.run_id, "val_loss")) <= most]

    first = cli(str(path), "--tracking-uri", uri, cwd=workdir)
    try:
        def mid_way():
            _, trials = search_and_trial_runs(client, "tiny")
            ended = [t for t in trials if t.data.tags.get(record.STATUS) == Status.FINISHED]
            # Exactly two epochs: a trial with three could finish its fourth between this
            # look and the kill (a busy machine's scheduling), leaving none half-way.
            return ended and half_way(trials, most=2)
        wait_for(mid_way, PROGRESS_S, "one trial ended and another half-way")
    finally:
        first.send_signal(signal.SIGKILL)  # the driver dies without any chance to clean up
        first.communicate()

    searches, trials = search_and_trial_runs(client, "tiny")
    assert len(searches) == 1 and searches[0].info.status == "RUNNING"
    running = half_way(trials)
    assert running
    search_id = searches[0].info.run_id
    # The crash can leave Tune's state naming a checkpoint it had already replaced and
    # deleted: make it so for one trial, whose newest checkpoint moves to a new name.
    (trial_dir,) = (workdir / "ray_results").glob(f"tiny-*/{running[0]}")
    saved = sorted(trial_dir.glob("checkpoint_*"))
    assert saved
    saved[-1].rename(trial_dir / "checkpoint_000099")
    for folder in saved[:-1]:
        shutil.rmtree(folder)

    second = cli(str(path), "--resume", cwd=workdir)
    out, _ = second.communicate(timeout=SEARCH_S)
    assert second.returncode == 0, out[-3000:]
    assert "resuming" in out
    assert f"trial {running[0]}: checkpoint" in out and "continuing from" in out, out[-3000:]

    searches, trials = search_and_trial_runs(client, "tiny")
    assert [s.info.run_id for s in searches] == [search_id]  # the same search run, not a second
    assert searches[0].info.status == "FINISHED"
    assert len(trials) == 6  # Optuna's state came back: no trial proposed twice, none lost
    assert len({t.data.tags[record.TRIAL_ID] for t in trials}) == 6
    assert_clean_histories(client, trials, epochs=4)
    assert "test_rmse" in searches[0].data.metrics


# The driver, with one thing added: it dies (SIGKILL) when the first result of a last epoch
# reaches it, before the trial logger sees that result. The epoch's checkpoint is on storage
# by then (a worker writes it before sending the result), while MLflow and Tune's saved state
# (saved every step here: TUNE_GLOBAL_CHECKPOINT_S=0) end at the epoch before.
DRIVER_DYING_AT_A_LAST_EPOCH = """
import os, signal, sys
from search.tracking import tracker as tracking
from search.run import main

logs_result = tracking.TrialLogger.on_trial_result

def on_trial_result(self, iteration, trials, trial, result, **info):
    if result["epoch"] == 4:
        os.kill(os.getpid(), signal.SIGKILL)
    return logs_result(self, iteration, trials, trial, result, **info)

tracking.TrialLogger.on_trial_result = on_trial_result
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_a_trial_continued_from_a_checkpoint_ahead_of_the_driver_reports_its_epoch(workdir):
    """Deterministic: the driver dies between a trial's last checkpoint and its result, and
    Tune deleted the checkpoint its saved state names; the resumed trial continues from its
    last epoch's checkpoint with nothing left to train, and must still report that epoch."""
    uri = f"sqlite:///{workdir}/mlflow.db"
    path = write_space(workdir, TINY)
    # The command re-typed with --resume is accepted as it was started.
    command = [str(path), "--tracking-uri", uri, "--num-samples", "2", "--set", "train.epochs=4"]
    first = subprocess.run([sys.executable, "-c", DRIVER_DYING_AT_A_LAST_EPOCH, *command], cwd=workdir,
                           env={**os.environ, "TUNE_GLOBAL_CHECKPOINT_S": "0"},
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=SEARCH_S)
    assert first.returncode == -signal.SIGKILL, first.stdout[-3000:]

    client = MlflowClient(tracking_uri=uri)
    _, trials = search_and_trial_runs(client, "tiny")
    steps = {t.data.tags[record.TRIAL_ID]: [m.step for m in client.get_metric_history(t.info.run_id, "val_loss")]
             for t in trials}
    # The trial whose result died with the driver (the other may have written its epoch 4 too).
    ahead = min(trial_id for trial_id, logged in steps.items()
                if logged == [1, 2, 3] and newest_epoch(workdir, trial_id) == 4)
    newest = newest_checkpoint(workdir, ahead)
    assert [r["epoch"] for r in load_checkpoint_folder(newest)["results"]] == [1, 2, 3, 4]
    # Tune replaced the checkpoint its state names (epoch 3's) by epoch 4's, then died.
    for folder in newest.parent.glob("checkpoint_*"):
        if folder != newest:
            shutil.rmtree(folder)

    second = cli(*command, "--resume", cwd=workdir)
    out, _ = second.communicate(timeout=SEARCH_S)
    assert second.returncode == 0, out[-3000:]
    assert f"trial {ahead}: checkpoint" in out and f"continuing from {newest}" in out, out[-3000:]
    searches, trials = search_and_trial_runs(client, "tiny")
    assert len(searches) == 1 and searches[0].info.status == "FINISHED"
    assert len(trials) == 2
    assert_clean_histories(client, trials, epochs=4)  # epoch 4 of `ahead` logged, once


def newest_checkpoint(workdir, trial_id: str):
    (trial_dir,) = (workdir / "ray_results").glob(f"tiny-*/{trial_id}")
    return sorted(trial_dir.glob("checkpoint_*"))[-1]


def newest_epoch(workdir, trial_id: str) -> int | None:
    """The epoch of the trial's newest checkpoint; None if the kill cut its writing short."""
    try:
        return load_checkpoint_folder(newest_checkpoint(workdir, trial_id))["epoch"]
    except CheckpointRefused:
        return None


def nothing(config):
    pass


def test_a_restored_tuner_calls_the_resuming_drivers_logger(workdir):
    """Tune restores the callbacks a search began with; the trial logger among them comes
    back as the logger the resuming driver made for the same search run (no Ray needed)."""
    from ray import tune

    spec = load_spec(write_space(workdir, TINY))
    tracker = Tracker(spec, f"sqlite:///{workdir}/mlflow.db", run_id="search-run-of-this-test")
    first = TrialLogger(tracker, spec)
    tune.Tuner(nothing, run_config=tune.RunConfig(storage_path=str(workdir), name="tiny-1",
                                                  callbacks=[RepairStaleCheckpoints(), first]))
    del first  # the driver that started the search is gone
    gc.collect()

    resuming = TrialLogger(tracker, spec)
    tune.Tuner.restore(str(workdir / "tiny-1"), trainable=nothing)
    assert resuming.restored_by_tune

    del resuming  # no driver of this search run: restoring by hand is refused with the way to resume
    gc.collect()
    with pytest.raises(SpecError, match="resume a search with python -m search.run SPACE --resume"):
        tune.Tuner.restore(str(workdir / "tiny-1"), trainable=nothing)


def test_the_newest_complete_checkpoint_is_found(tmp_path):
    import pyarrow.fs

    fs = pyarrow.fs.LocalFileSystem()
    for name in ("checkpoint_000001", "checkpoint_000003", "checkpoint_000004"):
        (tmp_path / name).mkdir()
    (tmp_path / "checkpoint_000001" / CHECKPOINT_FILE).write_bytes(b"epoch 2")
    (tmp_path / "checkpoint_000003" / CHECKPOINT_FILE).write_bytes(b"epoch 4")
    # checkpoint_000004 was being written when the driver died: no file, not complete
    assert newest_complete_checkpoint(fs, str(tmp_path)).path == str(tmp_path / "checkpoint_000003")
    for name in ("checkpoint_000001", "checkpoint_000003"):
        (tmp_path / name / CHECKPOINT_FILE).unlink()
    assert newest_complete_checkpoint(fs, str(tmp_path)) is None
    assert newest_complete_checkpoint(fs, str(tmp_path / "no_such_trial")) is None


def interrupted_search(workdir, overrides=()) -> tuple:
    """The state a killed search leaves: its record beside Ray Tune's folder, and its MLflow
    search run still RUNNING (what resume reads before Ray starts)."""
    uri = f"sqlite:///{workdir}/mlflow.db"
    raw = apply_overrides(read_yaml(write_space(workdir, TINY)), [*overrides, f"tracking.uri={uri}"], "space.yaml")
    client = MlflowClient(tracking_uri=uri)
    run = client.create_run(client.create_experiment("tiny"), tags={"search.role": "search"})
    record = ResumeRecord(run.info.run_id, uri, "tiny", "tiny-20260101-000000", False, raw)
    write_record(str(workdir / "ray_results" / record.run_name), record)
    return uri, record


def test_resume_accepts_the_original_command_and_refuses_changes(workdir, capsys):
    uri, record = interrupted_search(workdir, ["train.epochs=4"])
    path = str(workdir / "space.yaml")
    capsys.readouterr()  # MLflow's lines while it made the store
    # The command re-typed: the same values are accepted (as settings, not as text).
    check_same_as_started(record, ["train.epochs=4", "search.num_samples=6", f"tracking.uri={uri}"], False)
    check_same_as_started(record, ["train.lr=3.0e-3", "search.storage=ray_results"], False)
    for args, expected in [
        (["--set", "train.epochs=2"], "--resume: train.epochs was 4 when the search started, 2 now"),
        (["--num-samples", "7"], "search.num_samples was 6 when the search started, 7 now"),
        # Two changes: the first key in the space's order is named.
        (["--num-samples", "7", "--set", "train.epochs=2"], "train.epochs was 4 when the search started, 2 now"),
        (["--tracking-uri", f"sqlite:///{workdir}/other.db"], "tracking.uri was"),
        (["--smoke"], "--smoke: the search was started without --smoke"),
        (["--dry-run"], "it takes no --dry-run"),
    ]:
        assert main([path, "--resume", *args]) == 2, args
        err = capsys.readouterr().err
        assert expected in err and err.count("\n") == 1, err


def test_resume_refuses_unknown_folders(workdir, capsys):
    path = write_space(workdir, TINY)
    assert main([str(path), "--resume", str(workdir)]) == 2
    assert "is not the folder of a search" in capsys.readouterr().err
    assert main([str(path), "--resume"]) == 2
    assert "no search of 'tiny' to resume" in capsys.readouterr().err


def test_node_local_storage_is_refused_on_several_nodes(tmp_path):
    with pytest.raises(SpecError, match="trial checkpoints must reach every node"):
        check_storage_reaches_every_node(str(tmp_path), alive_nodes=2)
    check_storage_reaches_every_node(str(tmp_path), alive_nodes=1)
    check_storage_reaches_every_node(f"file://{tmp_path}", alive_nodes=2)  # the user says it is shared
    check_storage_reaches_every_node("s3://bucket/searches", alive_nodes=3)


@pytest.mark.slow
def test_two_node_cluster_survives_losing_a_node(workdir):
    from ray.cluster_utils import Cluster

    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(REPO)}
    os.environ["RAY_AUTH_MODE"] = "disabled"
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                            **own_ray_settings("local")})
    try:
        worker = cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        uri = f"sqlite:///{workdir}/mlflow.db"
        path = write_space(workdir, TINY.replace("epochs: 4", "epochs: 5"))

        # A path on this disk is refused up front: the other node could not reach it.
        refused = cli(str(path), "--address", cluster.address, "--tracking-uri", uri, cwd=workdir, env=env)
        out, _ = refused.communicate(timeout=120)
        assert refused.returncode == 2, out[-2000:]
        assert "trial checkpoints must reach every node" in out
        assert not (workdir / "ray_results").exists()

        client = MlflowClient(tracking_uri=uri)
        search = cli(str(path), "--address", cluster.address, "--tracking-uri", uri,
                     "--storage", f"file://{workdir}/shared", cwd=workdir, env=env)
        try:
            def trial_on_worker():
                _, trials = search_and_trial_runs(client, "tiny")
                return [t for t in trials if t.data.tags.get(record.RAY_NODE_ID) == worker.node_id
                        and t.info.status == "RUNNING" and len(t.data.metrics) > 0]
            moved = wait_for(trial_on_worker, PROGRESS_S, "a trial running on the worker node")[0]
            cluster.remove_node(worker)  # the node is lost mid-trial
            out, _ = search.communicate(timeout=SEARCH_S)
        finally:
            if search.poll() is None:
                search.kill()
        assert search.returncode == 0, out[-3000:]

        searches, trials = search_and_trial_runs(client, "tiny")
        assert len(searches) == 1 and len(trials) == 6
        assert_clean_histories(client, trials, epochs=5)  # retried from its checkpoint: no gap, no repeat
        retried = client.get_run(moved.info.run_id)
        assert retried.data.tags[record.RAY_NODE_ID] != worker.node_id  # it finished on the head node
        assert searches[0].data.metrics["trials_failed"] == 0
    finally:
        cluster.shutdown()
        os.environ.pop("RAY_AUTH_MODE", None)


@pytest.mark.slow
def test_quarter_gpus_run_four_trials_at_once(workdir, local_ray):
    uri = f"sqlite:///{workdir}/mlflow.db"
    path = write_space(workdir, TINY.replace("max_concurrent: 2", "max_concurrent: 4")
                       .replace("num_samples: 6", "num_samples: 4")
                       .replace("max_failures: 3", "max_failures: 0\n  resources: {cpu: 0.5, gpu: 0.25}")
                       .replace("epochs: 4", "epochs: 3"))
    assert main([str(path), "--tracking-uri", uri]) == 0
    client = MlflowClient(tracking_uri=uri)
    searches, trials = search_and_trial_runs(client, "tiny")
    assert len(trials) == 4
    assert searches[0].data.params["search.resources.gpu"] == "0.25"
    # All four held a quarter of the one GPU at the same time: their run times overlap.
    assert max(t.info.start_time for t in trials) < min(t.info.end_time for t in trials)
    assert {t.data.tags["device"] for t in trials} == {"cpu"}  # no CUDA here: the share runs on the CPU
