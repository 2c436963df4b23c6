"""Every use of Ray's private internals, in one place, each with why no public API does it.

Ray is pinned to the minor version these were written against (pyproject.toml). When a
Ray release renames or drops one of them, the functions here raise RayInternalsChanged
naming it, rather than writing an attribute Ray no longer reads; tests/test_ray_internals.py
runs each on real Ray objects in a second, so an upgrade that breaks one fails there first.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import ray

WRITTEN_FOR = "2.60"

# Ray logs a line per checkpoint from this module (a trial checkpoints every epoch); the
# trainable quiets it. If the module is renamed the lines come back, nothing breaks.
CHECKPOINT_STORAGE_LOGGER = "ray.train._internal.storage"
# Ray's notice, at every ray.init() of a new local cluster, that it turned on token
# authentication for it (Ray's default since 2.59): the logger it comes from and its first
# words. A search's own Ray keeps that security; the notice is kept from the user's
# screen (search/cluster/ray_cluster.py). Renamed or reworded, the line comes back; nothing breaks.
AUTH_TOKEN_LOGGER = "ray._private.authentication.authentication_token_setup"
AUTH_TOKEN_NOTICE = "Token authentication is enabled for this Ray cluster"


class RayInternalsChanged(RuntimeError):
    """A private part of Ray this platform relies on is gone from the installed Ray."""


def _existing(obj: Any, name: str) -> Any:
    # Reading before writing: assigning an attribute Ray renamed would succeed and do nothing.
    try:
        return getattr(obj, name)
    except AttributeError:
        raise RayInternalsChanged(
            f"ray {ray.__version__}: {type(obj).__qualname__} has no attribute {name!r} "
            f"(search/tuning/ray_internals.py was written for ray {WRITTEN_FOR})") from None


def checkpoint_manager(trial) -> Any:
    """The trial's checkpoint bookkeeping, which Tune saves with its experiment state."""
    return _existing(_existing(trial, "run_metadata"), "checkpoint_manager")


def forget_checkpoints(trial, keep: Callable[[ray.tune.Checkpoint], bool]) -> None:
    """Drops from Tune's kept checkpoints (the trial's best by the metric) those keep() refuses.

    Tune has no setter for this list: it only adds to it (register_checkpoint).
    """
    manager = checkpoint_manager(trial)
    kept = _existing(manager, "_checkpoint_results")
    manager._checkpoint_results = [result for result in kept if keep(_existing(result, "checkpoint"))]


def latest_checkpoint(trial) -> ray.tune.Checkpoint | None:
    """The checkpoint a restored trial continues from (Tune's saved state names it)."""
    latest = _existing(checkpoint_manager(trial), "latest_checkpoint_result")
    return None if latest is None else _existing(latest, "checkpoint")


def continue_from(trial, checkpoint: ray.tune.Checkpoint) -> None:
    """Makes the restored trial continue from `checkpoint` instead of its latest one.

    Tune has no public way to choose the checkpoint a restored trial starts from. The
    latest result keeps its metrics (Tune's iteration count); only its checkpoint changes.
    """
    latest = _existing(checkpoint_manager(trial), "latest_checkpoint_result")
    if latest is None:
        raise ValueError(f"trial {trial.trial_id} has no checkpoint to replace")
    _existing(latest, "checkpoint")
    latest.checkpoint = checkpoint


def use_one_bracket_shape(scheduler, halvings: int, first_rung: int, trials_per_bracket: int) -> None:
    """Makes every bracket of Ray's HyperBand scheduler the same: `halvings` rungs, the first
    at epoch `first_rung`, `trials_per_bracket` trials.

    HyperBand derives its brackets from max_t and the reduction factor alone: their sizes
    (up to reduction_factor ** halvings trials), a first rung near epoch 1 whatever the
    grace period, and a cycle through less aggressive brackets, down to one that trains
    every trial in full. For a search of a dozen trials that is the wrong shape, and Tune
    has no parameter for it: its scheduler reads these three attributes when it opens a
    bracket (HyperBandScheduler.__init__ sets them; HyperBandForBOHB.on_trial_add reads
    them, skipping a bracket whose first rung is 0).
    """
    for name in ("_s_max_1", "_get_r0", "_get_n0"):
        _existing(scheduler, name)
    scheduler._s_max_1 = halvings + 1
    scheduler._get_r0 = lambda s: first_rung if s == halvings else 0
    scheduler._get_n0 = lambda s: trials_per_bracket


def optuna_trial(searcher, trial_id: str):
    """The Optuna trial OptunaSearch asked its study for on `trial_id`'s behalf.

    OptunaSearch tells Optuna a trial's values and nothing else; a constraint value must be set
    on the trial itself before that (Optuna 5's Trial.set_constraint, which replaced the
    sampler's constraints_func), and OptunaSearch keeps its trials only in this attribute.
    """
    return _existing(searcher, "_ot_trials")[trial_id]


def check_pbt_hook(scheduler) -> None:
    """search/tuning/pbt.py's PopulationBasedTraining overrides Ray's `_get_new_config(trial,
    trial_to_clone)` (the hook Ray's own PB2 overrides) and reads the exploited trial's result
    from `_trial_state[trial].last_result`: Ray's scheduler has no public way to add to the
    config it hands an exploited trial. An override of a renamed hook would never be called."""
    from ray.tune.schedulers import PopulationBasedTraining

    hook = getattr(PopulationBasedTraining, "_get_new_config", None)
    if hook is None or list(inspect.signature(hook).parameters) != ["self", "trial", "trial_to_clone"]:
        raise RayInternalsChanged(f"ray {ray.__version__}: PopulationBasedTraining._get_new_config(trial, "
                                  "trial_to_clone) is gone (search/tuning/ray_internals.py was written for ray "
                                  f"{WRITTEN_FOR})")
    _existing(scheduler, "_trial_state")


def find_cluster_address(address: str) -> str:
    """HOST:PORT of the GCS that `ray.init(address)` would join (`auto`: RAY_ADDRESS, the
    last `ray start` on this machine, or a running GCS), without joining it.

    ray.init has no public way to ask this, and joining an address where nothing answers
    retries for over a minute. Raises ConnectionError when `auto` finds no cluster.
    """
    from ray._private import services

    found = services.canonicalize_bootstrap_address(address)
    if found is None:
        raise ConnectionError("no running Ray cluster found")
    return found


def local_machine_resources() -> dict[str, float]:
    """The CPUs and GPUs the one node of a local Ray started now would have: what
    `ray.init()` without num_cpus / num_gpus detects (cgroup CPU limits, the CUDA devices
    CUDA_VISIBLE_DEVICES leaves visible, RAY_OVERRIDE_RESOURCES).

    A search checks a trial's request against them before it starts Ray or opens the
    MLflow store; Ray has no public way to ask this without starting a cluster. Ray's
    own resolution is used, not a count of ours, so the check says what Ray would do.
    """
    try:
        from ray._private.resource_and_label_spec import ResourceAndLabelSpec

        resolved = ResourceAndLabelSpec().resolve(is_head=True, node_ip_address="127.0.0.1")
    except (ImportError, AttributeError, TypeError) as err:
        raise RayInternalsChanged(
            f"ray {ray.__version__}: ray._private.resource_and_label_spec.ResourceAndLabelSpec"
            f"().resolve() failed ({err}) (search/tuning/ray_internals.py was written for ray {WRITTEN_FOR})") from None
    return {"CPU": float(resolved.num_cpus or 0), "GPU": float(resolved.num_gpus or 0)}
