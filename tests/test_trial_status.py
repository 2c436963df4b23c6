"""How a trial ended, as the MLflow trial logger records it (search.status): a trial short of
train.epochs is stopped only by early stopping, its scheduler or an error; anything else
is incomplete, never a scheduler's stop. Real MLflow store, Tune's own Trial objects."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient
from ray.tune.experiment import Trial

from search import record
from search.record import Status
from search.space.validation import load_spec
from search.tracking.tracker import Tracker, TrialLogger
from tests.helpers import write_space

SPACE = """\
name: tiny
task: electricity
data: {lookback: 24}
model: {name: simple_rnn, hidden_size: 8, num_layers: 1}
train: {epochs: 4, patience: null}
search: {num_samples: 8, max_concurrent: 1}
space:
  train.lr: {loguniform: [1.0e-4, 1.0e-2]}
"""
SCHEDULERS = {
    "none": "search.scheduler={name: none}",
    "asha": "search.scheduler={name: asha, grace_period: 1, reduction_factor: 2}",
    "successive_halving": "search.scheduler={name: successive_halving, grace_period: 1, reduction_factor: 2}",
}


def ended(workdir, scheduler: str, results: list[dict], paused: str | None = None) -> tuple[str, str, str | None]:
    """A trial that reported `results` (epochs, Tune's `done` as Tune sets it) then ended:
    its run's search.status, MLflow status and search.error."""
    spec = load_spec(write_space(workdir, SPACE), [SCHEDULERS[scheduler]])
    tracker = Tracker(spec, f"sqlite:///{workdir}/mlflow.db")
    tracker.start_search("", {}, {})
    logger = TrialLogger(tracker, spec)
    trial = Trial("train_trial", config=spec.base_config(), trial_id="t0001", stub=True)
    logger.on_trial_start(0, [trial], trial)
    trial.set_status(Trial.RUNNING)
    for result in results:
        logger.on_trial_result(0, [trial], trial, {"node_id": "n", "device": "cpu", "model_params": 100,
                                                  "val_loss": 1.0 / result["epoch"], **result})
    if paused:  # waiting when its scheduler stops it: seen so at a step's end, or not yet
        trial.set_status(Trial.PAUSED)
        if paused == "seen":
            logger.on_step_end(0, [trial])
    logger.on_trial_complete(0, [trial], trial)
    run = MlflowClient(tracker.uri).get_run(logger.trials["t0001"].run_id)
    return run.data.tags[record.STATUS], run.info.status, run.data.tags.get(record.ERROR)


def epochs(*numbers: int, done_at: int | None = None) -> list[dict]:
    return [{"epoch": n, "done": n == done_at} for n in numbers]


@pytest.mark.parametrize("scheduler", sorted(SCHEDULERS))
def test_a_trial_short_of_its_epochs_that_nothing_stopped_is_incomplete(workdir, scheduler):
    status, state, error = ended(workdir, scheduler, epochs(1, 2, 3))
    assert (status, state) == (Status.INCOMPLETE, "FAILED")
    assert error == "ended after epoch 3 of 4 with no scheduler decision, early stop or error"


@pytest.mark.parametrize("scheduler, results, paused, expected", [
    ("none", epochs(1, 2, 3, 4), None, Status.FINISHED),
    ("none", [*epochs(1), {"epoch": 2, "early_stopped": 1}], None, Status.EARLY_STOPPED),
    ("asha", epochs(1, 2, done_at=2), None, Status.ASHA_STOPPED),
    # The scheduler's stop came on an epoch reported again (a continued trial): still its stop.
    ("asha", epochs(1, 2, 2, done_at=2), None, Status.ASHA_STOPPED),
    ("asha", epochs(1, 2, 3, 4, done_at=4), None, Status.FINISHED),
    ("successive_halving", epochs(1, 2, done_at=2), None, Status.stopped_at_rung(2)),
    # Stopped while paused at its rung.
    ("successive_halving", epochs(1, 2), "seen", Status.stopped_at_rung(2)),
    ("successive_halving", epochs(1), "unseen", Status.stopped_at_rung(1)),
])
def test_how_a_trial_ended(workdir, scheduler, results, paused, expected):
    status, state, error = ended(workdir, scheduler, results, paused)
    assert (status, state, error) == (expected, "FINISHED", None)


def test_an_incomplete_trial_has_ended_but_is_not_completed():
    assert record.has_ended(Status.INCOMPLETE) and not record.is_completed(Status.INCOMPLETE)
