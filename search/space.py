"""A Spec's `space:` as Ray Tune search-space objects.

Ray Tune's domains are the one vocabulary here: OptunaSearch converts them into
Optuna distributions itself, and the grid/random variant generator samples them.
"""

from __future__ import annotations

from typing import Any

from ray import tune

from search.spec import Distribution, Spec, trial_count


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
    """The whole resolved config, with each searched key replaced by its Tune domain."""
    config = spec.base_config()
    for key, dist in spec.space.items():
        section, _, option = key.partition(".")
        config[section][option] = to_tune_domain(dist, spec.search.algorithm)
    return config


def expected_trials(spec: Spec) -> int:
    """How many trials the whole search makes (grid dimensions multiply the samples)."""
    return trial_count(spec)
