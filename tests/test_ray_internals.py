"""Ray's private internals (search/tuning/ray_internals.py) on real Ray objects, in a second.

A Ray upgrade that renames or drops one of them fails here with its name, before a
resumed search would meet it. The objects are Tune's own: a Trial with the checkpoint
bookkeeping Tune restores from its saved state, fed as Tune feeds it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from ray import tune
from ray.tune.experiment.trial import Trial

from search.trial.trainable import CHECKPOINT_FILE
from search.tuning.ray_internals import (
    AUTH_TOKEN_LOGGER,
    AUTH_TOKEN_NOTICE,
    CHECKPOINT_STORAGE_LOGGER,
    RayInternalsChanged,
    checkpoint_manager,
    forget_checkpoints,
    latest_checkpoint,
    local_machine_resources,
)
from search.tuning.stale_checkpoints import is_complete, repair
from tests.helpers import REPO


def training_result(checkpoint: tune.Checkpoint, metrics: dict):
    """What Tune registers per reported checkpoint (only this test builds one by hand)."""
    try:
        from ray.train._internal.session import _TrainingResult
    except ImportError as err:
        pytest.fail(f"ray.train._internal.session._TrainingResult is gone ({err}): "
                    "the objects search/tuning/ray_internals.py reads have changed")
    return _TrainingResult(checkpoint=checkpoint, metrics=metrics)


def trial_with_checkpoints(tmp_path, losses: list[float]) -> Trial:
    """A trial as Tune keeps it: one checkpoint per epoch, the best one by val_loss kept."""
    trial = Trial("train_trial", stub=True, checkpoint_config=tune.CheckpointConfig(
        num_to_keep=1, checkpoint_score_attribute="val_loss", checkpoint_score_order="min"))
    for epoch, loss in enumerate(losses, start=1):
        folder = tmp_path / f"checkpoint_{epoch - 1:06d}"
        folder.mkdir()
        (folder / CHECKPOINT_FILE).write_bytes(b"weights")
        checkpoint = tune.Checkpoint.from_directory(str(folder))
        checkpoint_manager(trial).register_checkpoint(training_result(checkpoint, {"epoch": epoch, "val_loss": loss}))
    return trial


def test_repair_continues_a_trial_from_its_newest_complete_checkpoint(tmp_path):
    # Epoch 2 was the best (kept), epoch 4 the latest; Tune deleted epochs 1 and 3.
    trial = trial_with_checkpoints(tmp_path, [0.5, 0.2, 0.4, 0.3])
    kept = [r.checkpoint.path for r in checkpoint_manager(trial).best_checkpoint_results]
    assert kept == [str(tmp_path / "checkpoint_000001")]
    assert latest_checkpoint(trial).path == str(tmp_path / "checkpoint_000003")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint_000001", "checkpoint_000003"]

    # The crash: the newest checkpoint's file is gone, though Tune's saved state names it.
    (tmp_path / "checkpoint_000003" / CHECKPOINT_FILE).unlink()
    repair(trial)
    # Tune hands this to the restored trial (Trial.latest_checkpoint_result): the kept best one.
    assert trial.latest_checkpoint_result.checkpoint.path == str(tmp_path / "checkpoint_000001")
    assert trial.latest_checkpoint_result.metrics["epoch"] == 4  # Tune's iteration count goes on

    # The best checkpoint gone too: Tune forgets it, so the evaluation never reads it.
    (tmp_path / "checkpoint_000001" / CHECKPOINT_FILE).unlink()
    repair(trial)
    assert checkpoint_manager(trial).best_checkpoint_results == []


def test_a_trial_with_complete_checkpoints_is_left_alone(tmp_path):
    trial = trial_with_checkpoints(tmp_path, [0.5, 0.2])
    before = trial.latest_checkpoint_result
    repair(trial)
    assert trial.latest_checkpoint_result is before and is_complete(before.checkpoint)
    assert len(checkpoint_manager(trial).best_checkpoint_results) == 1
    fresh = Trial("train_trial", stub=True)
    repair(fresh)  # a trial of a search that was not resumed: nothing to check yet
    assert latest_checkpoint(fresh) is None


def test_a_missing_attribute_is_named(tmp_path):
    trial = trial_with_checkpoints(tmp_path, [0.5])
    del checkpoint_manager(trial)._checkpoint_results  # as if a Ray release renamed it
    with pytest.raises(RayInternalsChanged, match=r"_CheckpointManager has no attribute '_checkpoint_results'"):
        forget_checkpoints(trial, keep=is_complete)


def test_the_quieted_logger_is_still_rays():
    import importlib.util

    assert importlib.util.find_spec(CHECKPOINT_STORAGE_LOGGER) is not None, CHECKPOINT_STORAGE_LOGGER


def test_the_token_notice_left_out_is_still_rays():
    import importlib.util

    found = importlib.util.find_spec(AUTH_TOKEN_LOGGER)
    assert found is not None, AUTH_TOKEN_LOGGER
    assert AUTH_TOKEN_NOTICE in open(found.origin).read()


@pytest.mark.slow
def test_a_searchs_own_ray_keeps_token_authentication_without_its_notice(tmp_path):
    """In a process of its own (RAY_AUTH_MODE unset, as on a fresh clone): the search's
    start of a local Ray turns token authentication on, as Ray does, and prints nothing."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_MODE")}
    started = subprocess.run([sys.executable, "-c", (
        "import ray; from ray._raylet import AuthenticationMode, get_authentication_mode; "
        "from search.cluster.ray_cluster import start_ray, stop_ray; "
        "nodes, started = start_ray(None, []); "
        "print(nodes, started, get_authentication_mode() == AuthenticationMode.TOKEN); stop_ray()")],
        cwd=tmp_path, env={**env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=300)
    assert started.returncode == 0, started.stderr[-2000:]
    assert started.stdout.split() == ["1", "True", "True"]
    assert "Token authentication" not in started.stderr, started.stderr


def test_the_installed_ray_mlflow_and_optuna_are_the_pinned_ones():
    from importlib.metadata import version

    from packaging.requirements import Requirement

    text = (REPO / "pyproject.toml").read_text()
    pinned = [Requirement(r) for r in re.findall(r'^\s*"((?:ray|mlflow|optuna)\b[^"]*)"', text, flags=re.MULTILINE)]
    assert sorted(r.name for r in pinned) == ["mlflow", "optuna", "ray"]
    for requirement in pinned:
        installed = version(requirement.name)
        assert requirement.specifier.contains(installed), (
            f"{requirement.name} {installed} is installed, pyproject.toml pins {requirement}: "
            "docs/upgrading.md ('Moving to a new Ray, MLflow or Optuna') says how to move a pin")


def test_optunasearch_hands_over_the_optuna_trial_a_constraint_is_set_on():
    from ray.tune.search.optuna import OptunaSearch

    from search.tuning.ray_internals import optuna_trial

    searcher = OptunaSearch(metric="val_loss", mode="min")
    searcher.set_search_properties(None, None, {"lr": tune.loguniform(1e-4, 1e-2)})
    searcher.suggest("t1")
    optuna_trial(searcher, "t1").set_constraint("params <= 100", 0.5)
    searcher.on_trial_complete("t1", result={"val_loss": 0.3})
    assert searcher._ot_study.trials[0].constraints == {"params <= 100": 0.5}
    del searcher._ot_trials  # as if a Ray release renamed it
    with pytest.raises(RayInternalsChanged, match="OptunaSearch has no attribute '_ot_trials'"):
        optuna_trial(searcher, "t1")


def test_pbt_still_has_the_hook_for_an_exploited_trials_config():
    from ray.tune.schedulers import PopulationBasedTraining

    from search.tuning.ray_internals import check_pbt_hook

    scheduler = PopulationBasedTraining(hyperparam_mutations={"lr": [0.1, 0.2]})
    check_pbt_hook(scheduler)
    del scheduler._trial_state  # as if a Ray release renamed it
    with pytest.raises(RayInternalsChanged, match="PopulationBasedTraining has no attribute '_trial_state'"):
        check_pbt_hook(scheduler)


@pytest.mark.slow
def test_the_machine_as_a_local_ray_counts_it(tmp_path):
    """What the search checks before starting Ray is what the Ray it then starts has."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    started = subprocess.run([sys.executable, "-c", (
        "import json, ray; ray.init(address='local', include_dashboard=False, logging_level='ERROR'); "
        "r = ray.cluster_resources(); print(json.dumps({'CPU': r.get('CPU', 0.0), 'GPU': r.get('GPU', 0.0)})); "
        "ray.shutdown()")], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert started.returncode == 0, started.stderr[-2000:]
    assert json.loads(started.stdout.strip().splitlines()[-1]) == local_machine_resources()
