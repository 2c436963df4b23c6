"""`search.scheduler: {name: pbt}`: Ray Tune's PopulationBasedTraining, told what a trial is.

Every `perturbation_interval` epochs a trial in the bottom `quantile` of the population (by
the search metric, or search.scheduler.metric) copies the checkpoint of one in the top
quantile, its weights and optimizer state, and goes on with that trial's hyperparameters
perturbed: each mutated key resampled from its distribution in the space (a quarter of
the time) or moved (a range's value times 0.8 or 1.2, a choice's to a neighbour).

Two things Ray's scheduler leaves to the trainable, added here:
- The new config says which trial's checkpoint the exploited trial continues and how many
  epochs it had trained itself, under the reserved key `pbt` (search/tuning/pbt_schedule.py): its
  run goes on from its own next epoch, whatever epoch the copied checkpoint was at.
- A perturbed value stays inside the space (a learning rate times 1.2 may leave its
  loguniform range, a momentum may pass 1): custom_explore_fn, Ray's hook for it, puts it
  back on the nearest bound (and a quniform's on its grid).

The population is the search's trials (num_samples), all started at once; they take turns
on the cluster: at each perturbation a trial pauses when others wait, and the scheduler
runs the one that trained least. search.max_concurrent does not apply (Ray's variant
generator would hold back the rest of the population until the first trials end).
"""

from __future__ import annotations

import math
from typing import Any

from ray.tune.schedulers import PopulationBasedTraining as RayPopulationBasedTraining

from search.space.domains import to_tune_domain
from search.space.mutations import mutation_keys
from search.space.spec import Spec
from search.tuning.pbt_schedule import PBT_KEY
from search.tuning.ray_internals import check_pbt_hook


def hyperparam_mutations(spec: Spec) -> dict[str, dict[str, Any]]:
    """Ray's nested form of the mutated keys' distributions: {"train": {"lr": tune.loguniform(...)}}."""
    mutations: dict[str, dict[str, Any]] = {}
    for key in mutation_keys(spec):
        section, _, option = key.partition(".")
        dist = spec.space[key]
        # A choice is Ray's list (a neighbour, or a resample); a range its Tune domain.
        domain = list(dist.args) if dist.kind in ("choice", "grid") else to_tune_domain(dist, "random")
        mutations.setdefault(section, {})[option] = domain
    return mutations


def keep_in_space(spec: Spec):
    """custom_explore_fn: each perturbed value put back inside its dimension's range."""
    ranges = {key: spec.space[key] for key in mutation_keys(spec)
              if spec.space[key].kind in ("uniform", "loguniform", "randint", "quniform")}

    def explore(config: dict[str, Any]) -> dict[str, Any]:
        for key, dist in ranges.items():
            section, _, option = key.partition(".")
            low, high = dist.args[0], dist.args[1]
            value = min(max(config[section][option], low), high)
            if dist.kind == "randint":
                value = int(round(value))
            elif dist.kind == "quniform":
                q = dist.args[2]
                value = min(max(round(value / q) * q, math.ceil(low / q) * q), math.floor(high / q) * q)
            config[section][option] = value
        return config

    return explore


class PopulationBasedTraining(RayPopulationBasedTraining):
    def __init__(self, spec: Spec, **judged: str):
        scheduler = spec.search.scheduler
        super().__init__(time_attr="epoch", perturbation_interval=scheduler.perturbation_interval,
                         quantile_fraction=scheduler.quantile, hyperparam_mutations=hyperparam_mutations(spec),
                         custom_explore_fn=keep_in_space(spec), **judged)
        check_pbt_hook(self)

    def _get_new_config(self, trial, trial_to_clone):
        # Ray's hook for the exploited trial's new config (PB2 overrides it too); the trial's
        # result at this decision is its state's last_result (trial.last_result is the one before).
        config, operations = super()._get_new_config(trial, trial_to_clone)
        before = (trial.config.get(PBT_KEY) or {}).get("exploits", 0)
        config[PBT_KEY] = {"exploits": before + 1, "source": trial_to_clone.trial_id,
                           "trial_epoch": int(self._trial_state[trial].last_result["epoch"])}
        return config, operations
