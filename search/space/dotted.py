"""Dotted keys ("train.lr") to and from nested configs: how spaces, MLflow params and
tables name a setting. Kept free of Ray so reading results back stays quick to import."""

from __future__ import annotations

from typing import Any

from search.record import read_param
from search.space.conditions import inactive_keys
from search.space.spec import Spec


def sampled_values(spec: Spec, config: dict[str, Any]) -> dict[str, Any]:
    """The searched keys of a trial's config, as {"train.lr": 0.003, ...}; None for a
    dimension the trial did not search (`when:`), which trained with the base config's value."""
    values = {key: config[key.split(".", 1)[0]][key.split(".", 1)[1]] for key in spec.space}
    inactive = inactive_keys(spec.space, values)
    return {key: None if key in inactive else value for key, value in values.items()}


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
        config.setdefault(section, {})[option] = read_param(text)
    return config
