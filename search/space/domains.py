"""A Spec's `space:` as Ray Tune search-space objects.

Ray Tune's domains are the one vocabulary here: OptunaSearch converts them into
Optuna distributions itself, and the grid/random variant generator samples them.
"""

from __future__ import annotations

from typing import Any

from ray import tune

from search.space import conditions
from search.space.dotted import flatten
from search.space.spec import Distribution, Spec


def to_tune_domain(dist: Distribution, algorithm: str):
    kind, args = dist.kind, dist.args
    if kind == "grid" or (kind == "choice" and algorithm == "grid"):
        return tune.grid_search(list(args))
    if kind in ("choice", "grid"):  # Optuna and random search sample a grid as a choice
        return tune.choice(list(args))
    if kind == "uniform":
        return tune.uniform(*args)
    if kind == "loguniform":
        return tune.loguniform(*args)
    if kind == "randint":
        return tune.randint(args[0], args[1] + 1)  # the spec's high is included, Tune's is not
    if kind == "quniform":
        return tune.quniform(*args)
    raise ValueError(f"unknown distribution {kind}")


def param_space(spec: Spec) -> dict[str, Any]:
    """The whole resolved config, with each searched key replaced by its Tune domain (what
    Ray's variant generator samples: random and grid search over a space without conditions)."""
    config = spec.base_config()
    for key, dist in spec.space.items():
        section, _, option = key.partition(".")
        config[section][option] = to_tune_domain(dist, spec.search.algorithm)
    return config


# --- conditional spaces (`when:`, search/space/conditions.py) and Optuna's define-by-run space --------
def optuna_name(key: str) -> str:
    """The name Optuna knows a dimension by: Ray Tune's OptunaSearch names a nested config's
    keys with "/" ("train/lr") and un-nests its suggestions by it."""
    return key.replace(".", "/", 1)


def suggestion_order(spec: Spec) -> list[str]:
    """The searched keys in the order OptunaSearch suggested a space converted from Tune
    domains (the config's: data, model, train, each in its keys' order), so a space without
    conditions draws what it drew before; under `when:`, each key after those its conditions name."""
    config = spec.base_config()
    for key in spec.space:
        section, _, option = key.partition(".")
        config[section][option] = None
    preferred = [key for key in flatten(config) if key in spec.space]
    return conditions.dependency_order(spec.space, preferred)


def optuna_distributions(spec: Spec) -> dict[str, Any]:
    """Each dimension as the Optuna distribution Ray Tune's own conversion gives its Tune domain."""
    from ray.tune.search.optuna import OptunaSearch

    return {key: OptunaSearch.convert_search_space({"x": to_tune_domain(dist, "optuna")})["x"]
            for key, dist in spec.space.items()}


class DefineByRun:
    """The space as an Optuna define-by-run function, what OptunaSearch takes as its `space`:
    each dimension suggested in turn, a conditional one only where its conditions hold, as
    Optuna's users write `if optimizer == "sgd": trial.suggest_float("momentum", ...)`.
    A class, not a closure: Tune pickles the searcher, this with it, to resume a search."""

    def __init__(self, spec: Spec):
        self.space = dict(spec.space)
        self.order = suggestion_order(spec)
        self.distributions = optuna_distributions(spec)

    def __call__(self, trial) -> None:
        values: dict[str, Any] = {}
        for key in self.order:
            if conditions.is_active(self.space, key, values):
                values[key] = suggest(trial, optuna_name(key), self.distributions[key])


def suggest(trial, name: str, distribution) -> Any:
    """Optuna's suggest_* call for a distribution (the same draw as asking with it fixed)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(name, distribution.choices)
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(name, distribution.low, distribution.high, step=distribution.step,
                                 log=distribution.log)
    if isinstance(distribution, FloatDistribution):
        return trial.suggest_float(name, distribution.low, distribution.high, step=distribution.step,
                                   log=distribution.log)
    raise TypeError(f"no Optuna suggestion for {distribution!r}")


def nested(values: dict[str, Any]) -> dict[str, Any]:
    """Dotted searched keys as the nested part of a config a searcher suggests."""
    config: dict[str, Any] = {}
    for key, value in values.items():
        section, _, option = key.partition(".")
        config.setdefault(section, {})[option] = value
    return config
