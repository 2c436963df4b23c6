"""A Spec's `space:` as Ray Tune search-space objects.

Ray Tune's domains are the one vocabulary here: OptunaSearch converts them into
Optuna distributions itself, and the grid/random variant generator samples them.
"""

from __future__ import annotations

from typing import Any

import yaml
from ray import tune

from search.spec import Distribution, Spec


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


def sampled_values(spec: Spec, config: dict[str, Any]) -> dict[str, Any]:
    """The searched keys of a trial's config, as {"train.lr": 0.003, ...}."""
    return {key: config[key.split(".", 1)[0]][key.split(".", 1)[1]] for key in spec.space}


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"train": {"lr": 1}} -> {"train.lr": 1}: the dotted keys users write in spaces."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def unflatten(params: dict[str, str]) -> dict[str, Any]:
    """MLflow params (dotted keys, string values) back into a nested config."""
    config: dict[str, Any] = {}
    for key, text in params.items():
        if "." not in key:
            continue
        section, _, option = key.partition(".")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = text
        config.setdefault(section, {})[option] = None if value == "None" else value
    return config
