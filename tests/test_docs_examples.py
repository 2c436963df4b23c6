"""The examples the docs include (docs/examples/, on the "Your own model and task" page) run
as the page says, so a documented example cannot break unnoticed.

The fast tests check each space as `--dry-run` does and train its base config for an epoch
without Ray; the slow ones run the documented commands end to end.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import torch
from search.data.electricity import builtin_series

from search.run import main
from search.space.validation import load_spec
from tests.helpers import REPO

EXAMPLES = REPO / "docs" / "examples"
EXAMPLE_MODULES = ("my_nets", "my_tasks")
PAGE = REPO / "docs" / "own-model-and-task.md"


@pytest.fixture
def examples(tmp_path, monkeypatch):
    """A copy of docs/examples as the current folder, as a reader runs them, with the
    `sales.csv` the task example reads (real demand values as units sold); the examples'
    modules are forgotten afterwards, so no other test sees them."""
    folder = tmp_path / "examples"
    shutil.copytree(EXAMPLES, folder)
    pd.DataFrame({"units": builtin_series().to_numpy()[:400]}).to_csv(folder / "sales.csv", index=False)
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    for name in EXAMPLE_MODULES:
        sys.modules.pop(name, None)


def test_the_page_includes_every_example_file():
    page = PAGE.read_text()
    files = sorted(path.name for path in EXAMPLES.iterdir() if path.suffix in (".py", ".yaml"))
    assert files == ["from_python.py", "gru_forecast.yaml", "my_nets.py", "my_tasks.py", "sales_forecast.yaml"]
    assert [name for name in files if f'--8<-- "docs/examples/{name}"' not in page] == []


def one_epoch(space: str) -> dict:
    """The space's base config trained for one epoch on its smoke-sized data, without Ray
    (as a trial worker trains it)."""
    from search.data import get_task

    from search.trial.training import Trial

    spec = load_spec(space, ["train.epochs=1", "search.scheduler.name=none"])
    task = get_task(spec.task)
    options = task.Options(**spec.data)
    trial = Trial(task, task.splits(task.load(options, smoke=True), options), spec.base_config())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as a 1-CPU trial has it (Ray sets OMP_NUM_THREADS): small steps, no contention
    try:
        (metrics,) = list(trial.epochs())
    finally:
        torch.set_num_threads(threads)
    return metrics


def test_the_model_example_is_checked_and_trains(examples, capsys):
    assert main(["gru_forecast.yaml", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "my_nets:TinyGRU" in out and "GRU" in out  # the spec and TinyGRU's layer table
    spec = load_spec("gru_forecast.yaml")
    assert spec.model == {"name": "my_nets:TinyGRU", "hidden": 32, "layers": 1}
    metrics = one_epoch("gru_forecast.yaml")
    assert math.isfinite(metrics["train_loss"]) and math.isfinite(metrics["val_loss"])


def test_the_task_example_is_checked_and_trains(examples, capsys):
    assert main(["sales_forecast.yaml", "--dry-run"]) == 0
    assert "my_tasks:SalesTask" in capsys.readouterr().out
    spec = load_spec("sales_forecast.yaml")
    assert spec.kind == "regression" and spec.data == {"path": "sales.csv", "window": 8}
    metrics = one_epoch("sales_forecast.yaml")
    assert math.isfinite(metrics["train_loss"]) and math.isfinite(metrics["val_mae"])


def run_in(folder, *command: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # this checkout's platform, as an install would give it
    return subprocess.run([sys.executable, *command], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=900)


@pytest.mark.slow
def test_from_python_runs_as_documented(examples):
    done = run_in(examples, "from_python.py")
    assert done.returncode == 0, done.stderr[-3000:]
    printed = done.stdout.splitlines()
    assert "finished" in printed  # result.status, after the search's own summary
    assert any(line.startswith("{'test_loss':") and "'test_mse':" in line for line in printed)  # test_metrics


@pytest.mark.slow
def test_the_task_and_model_search_runs_as_documented(examples):
    done = run_in(examples, "-m", "search.run", "sales_forecast.yaml", "--smoke")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Best trial" in done.stdout
