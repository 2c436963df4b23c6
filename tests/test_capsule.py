"""What made a search (search/tracking/capsule.py) and what a trial used (search/trial/resource_use.py), read
on this machine and this checkout."""

from __future__ import annotations

import importlib.metadata
import subprocess
import time

import pytest
import torch

from search import record
from search.tracking.capsule import capsule, code_tags, files_hash, git_state, pip_freeze
from search.trial.resource_use import TrialMeter, search_hours
from tests.helpers import REPO


def git(folder, *args) -> str:
    return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, check=True).stdout.strip()


def test_the_platform_commit_is_the_checkout_s():
    state = git_state(REPO)
    assert state is not None and state.commit == git(REPO, "rev-parse", "HEAD")
    assert state.dirty == bool(git(REPO, "status", "--porcelain", "--untracked-files=no"))


def test_a_start_folder_in_another_repository_is_recorded_apart(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "my_nets.py").write_text("A = 1\n")
    git(tmp_path, "add", "my_nets.py")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "first")
    tags = code_tags(tmp_path)
    assert tags[record.CODE_COMMIT] == git(tmp_path, "rev-parse", "HEAD") != tags[record.PLATFORM_COMMIT]
    assert tags[record.CODE_DIRTY] == "false"
    (tmp_path / "my_nets.py").write_text("A = 2\n")
    assert code_tags(tmp_path)[record.CODE_DIRTY] == "true"
    (tmp_path / "ray_results").mkdir()  # a search's own outputs: untracked, not a change of code
    (tmp_path / "ray_results" / "x").write_text("")
    git(tmp_path, "checkout", "-q", "my_nets.py")
    assert code_tags(tmp_path)[record.CODE_DIRTY] == "false"
    # The platform's own folder as the start folder: one commit, recorded once.
    assert record.CODE_COMMIT not in code_tags(REPO)


def test_outside_a_repository_no_code_commit_is_claimed(tmp_path):
    assert git_state(tmp_path) is None
    assert record.CODE_COMMIT not in code_tags(tmp_path)


def test_the_user_code_hash_follows_the_files(tmp_path):
    package = tmp_path / "models"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "gru.py").write_text("H = 8\n")
    single = tmp_path / "my_nets.py"
    single.write_text("X = 1\n")
    first = files_hash([str(package), str(single)])
    assert first == files_hash([str(single), str(package)])  # the order given does not matter
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "gru.cpython-311.pyc").write_bytes(b"\x00")
    assert files_hash([str(package), str(single)]) == first  # compiled files are not the code
    (package / "gru.py").write_text("H = 16\n")
    assert files_hash([str(package), str(single)]) != first
    assert files_hash([]) is None


def test_the_capsule_names_versions_device_and_packages():
    made = capsule([])
    tags = made.tags
    assert tags[f"{record.VERSION_PREFIX}torch"] == importlib.metadata.version("torch")
    assert tags[f"{record.VERSION_PREFIX}ray"] == importlib.metadata.version("ray")
    assert tags[f"{record.VERSION_PREFIX}mlflow"] == importlib.metadata.version("mlflow")
    assert tags[f"{record.VERSION_PREFIX}optuna"] == importlib.metadata.version("optuna")
    assert tags[f"{record.VERSION_PREFIX}platform"] == importlib.metadata.version("search-platform")
    assert tags[record.DEVICE_CPU]
    assert int(tags[record.DEVICE_GPU_COUNT]) == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    assert record.USER_CODE_HASH not in tags  # nothing shipped
    freeze = pip_freeze().splitlines()
    assert f"torch=={importlib.metadata.version('torch')}" in freeze
    names = [line.partition("==")[0].lower() for line in freeze]
    assert names == sorted(names) and made.pip_freeze.splitlines() == freeze


def busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_a_trial_s_cpu_use_per_epoch_and_its_totals_carried_on():
    meter = TrialMeter()
    busy(0.5)
    first = meter.epoch_readings()
    # Busy for the whole "epoch": most of one core, on however busy a machine (generous bound).
    assert 20 < first[record.TRIAL_CPU_PERCENT] <= 100 * (torch.get_num_threads() + 2)
    assert first[record.TRIAL_RSS_MB] > 10
    assert first[record.TRIAL_CPU_SECONDS] > 0.1
    time.sleep(0.5)
    idle = meter.epoch_readings()
    assert idle[record.TRIAL_CPU_PERCENT] < first[record.TRIAL_CPU_PERCENT]
    assert idle[record.TRIAL_CPU_SECONDS] >= first[record.TRIAL_CPU_SECONDS]
    assert record.TRIAL_GPU_SECONDS not in idle and record.TRIAL_GPU_UTIL not in idle  # no GPU share
    # Continued from a checkpoint: the totals go on from the last result it holds.
    later = TrialMeter(earlier={record.TRIAL_CPU_SECONDS: 100.0})
    busy(0.2)
    assert later.epoch_readings()[record.TRIAL_CPU_SECONDS] > 100.0


def test_search_hours_add_up_the_runs():
    hours = search_hours([{record.TRIAL_CPU_SECONDS: 1800.0, record.TRIAL_GPU_SECONDS: 900.0},
                          {record.TRIAL_CPU_SECONDS: 1800.0}, {}])
    assert hours == {record.SEARCH_CPU_HOURS: pytest.approx(1.0), record.SEARCH_GPU_HOURS: pytest.approx(0.25)}
