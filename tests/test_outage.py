"""A search that outlives its tracking server: a real `mlflow server` over HTTP, killed while
trials train and started again later (or not before the search ends), and two searches
writing one SQLite file at once. Each search runs as the command a user types, in its own
process, beside two busy loops that keep the cores loaded."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from search import record
from tests.helpers import REPO, search_and_trial_runs, write_space
from tests.test_mlflow_ui import free_port, stop_group, wait_for_health

pytestmark = pytest.mark.slow

SPACE = """\
name: {name}
task: electricity
data: {{lookback: 12}}
model: {{name: simple_rnn, hidden_size: 8, num_layers: 1}}
train: {{epochs: 2, batch_size: 256, patience: null}}
search: {{algorithm: random, num_samples: 1, max_concurrent: 2, scheduler: {{name: none}}}}
space:
  train.lr: {{grid: [0.01, 0.003, 0.001, 0.0003]}}
tracking: {{experiment: {experiment}}}
"""
OUTAGE_S = 180  # the server is down this long, trials training meanwhile
SEARCH_S = 900  # a generous ceiling for one tiny search on two busy cores


class Server:
    """`mlflow server` on a fixed port and store, to stop and start again as a team's would."""

    def __init__(self, folder: Path):
        self.folder, self.port = folder, free_port()
        self.url, self.process = f"http://127.0.0.1:{self.port}", None

    def start(self) -> None:
        command = [str(Path(sys.executable).parent / "mlflow"), "server",
                   "--backend-store-uri", f"sqlite:///{self.folder}/server.db",
                   "--serve-artifacts", "--artifacts-destination", str(self.folder / "served_artifacts"),
                   "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        log = self.folder / "mlflow_server.log"
        with open(log, "ab") as handle:
            self.process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)
        wait_for_health(self.url, self.process, log)

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process)


@pytest.fixture
def server(tmp_path):
    running = Server(tmp_path)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def busy_cores():
    """Two busy loops beside the search: the outage must hold under load."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


def start_search(folder: Path, name: str, uri: str, *settings: str, experiment: str | None = None):
    space = write_space(folder, SPACE.format(name=name, experiment=experiment or name), f"{name}.yaml")
    command = [sys.executable, "-m", "search.run", str(space), "--smoke", "--tracking-uri", uri]
    for setting in settings:
        command += ["--set", setting]
    env = {**os.environ, "PYTHONPATH": str(REPO), "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    return subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def wait_for_a_trained_epoch(uri: str, experiment: str, search) -> None:
    """Until a trial run holds an epoch: the search is training when the server goes."""
    client = MlflowClient(tracking_uri=uri)
    deadline = time.monotonic() + SEARCH_S
    while time.monotonic() < deadline:
        assert search.poll() is None, search.communicate()
        _, trials = search_and_trial_runs(client, experiment)
        if any("val_loss" in t.data.metrics for t in trials):
            return
        time.sleep(1)
    pytest.fail("no trial trained an epoch")


def assert_whole_record(uri: str, experiment: str, trials_expected: int = 4) -> None:
    client = MlflowClient(tracking_uri=uri)
    (search,), trials = search_and_trial_runs(client, experiment)
    assert search.info.status == "FINISHED" and "test_mse" in search.data.metrics
    assert record.SEARCH_CPU_HOURS in search.data.metrics
    assert len(trials) == trials_expected
    for trial in trials:
        assert trial.info.status == "FINISHED" and trial.data.tags[record.STATUS] == "finished"
        assert trial.data.tags[record.PARENT] == search.info.run_id
        for name in ("train_loss", "val_loss", record.TRIAL_RSS_MB):
            steps = [m.step for m in client.get_metric_history(trial.info.run_id, name)]
            assert sorted(steps) == [1, 2], (name, steps)  # every epoch, each once
        assert {"learning_curve.png", "best_checkpoint"} <= {a.path for a in client.list_artifacts(
            trial.info.run_id)}
    [found] = client.search_model_versions(f"name = '{experiment}'")
    version = client.get_model_version(experiment, found.version)  # a search's answer has no aliases
    assert version.run_id == search.info.run_id and record.CHALLENGER in version.aliases
    assert version.tags[record.CHAMPION_DECISION]


def test_the_server_down_for_three_minutes_mid_search_costs_nothing(server, busy_cores, tmp_path):
    search = start_search(tmp_path, "outage", server.url)
    wait_for_a_trained_epoch(server.url, "outage", search)
    server.stop()
    down = time.monotonic()
    time.sleep(OUTAGE_S)
    server.start()
    out, err = search.communicate(timeout=SEARCH_S)
    assert search.returncode == 0, err[-3000:]
    assert err.count("does not answer") == 1 and err.count("answers again after") == 1, err[-3000:]
    # Training went on while the server was down: the trials ended before it came back.
    assert "4 trials in" in out and time.monotonic() - down > OUTAGE_S
    assert_whole_record(server.url, "outage")


def test_a_server_that_never_comes_back_then_search_sync(server, tmp_path):
    search = start_search(tmp_path, "gone", server.url, "tracking.outage_wait=5")
    wait_for_a_trained_epoch(server.url, "gone", search)
    server.stop()
    out, err = search.communicate(timeout=SEARCH_S)
    assert search.returncode == 3, err[-3000:]
    assert "[search] finished, record pending: MLflow at " in err
    [command] = [line.strip() for line in err.splitlines() if line.strip().startswith("python -m search.sync ")]
    folder = command.split(" ", 3)[3]
    assert (Path(folder) / "search_run.json").is_file()
    # The driver is gone; the record waits on disk until the server is back.
    server.start()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    synced = subprocess.run([sys.executable, "-m", "search.sync", folder], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=SEARCH_S)
    assert synced.returncode == 0, synced.stderr[-3000:]
    assert f"the record of {folder} is whole" in synced.stdout
    assert_whole_record(server.url, "gone")


def test_two_searches_on_one_sqlite_file_both_whole(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    first = start_search(tmp_path, "first", uri, experiment="first")
    second = start_search(tmp_path, "second", uri, experiment="second")
    for search in (first, second):
        out, err = search.communicate(timeout=SEARCH_S)
        assert search.returncode == 0, err[-3000:]
    assert_whole_record(uri, "first")
    assert_whole_record(uri, "second")
