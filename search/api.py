"""The Python API: `from search import run_search`.

    result = run_search("spaces/rnn_units.yaml", overrides=["train.epochs=3"], smoke=True)
    result.best_config, result.test_metrics, result.trials

The command line (`python -m search.run`) is a thin layer over this. Bad input raises
SpecError (one line, nothing started or logged); nothing here calls sys.exit, so a
notebook can run one search after another in one process.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from search.space.spec import Spec, apply_overrides, read_yaml
from search.space.validation import validate_spec
from search.tuning.result import SearchResult

__all__ = ["run_search", "SearchResult"]

SMOKE_SETTINGS = {"search.num_samples": 4, "train.epochs": 2}


def command_line_overrides(overrides: Sequence[str], tracking_uri: str | None,
                           storage: str | None, time_budget: str | float | None = None) -> list[str]:
    """The API's and the command line's settings as --set overrides, so they pass the same
    validation as the space file."""
    result = list(overrides)
    if tracking_uri:
        result.append(f"tracking.uri={yaml.safe_dump(tracking_uri).splitlines()[0]}")
    if storage:
        result.append(f"search.storage={yaml.safe_dump(storage).splitlines()[0]}")
    if time_budget is not None:
        result.append(f"search.budget.time={yaml.safe_dump(time_budget).splitlines()[0]}")
    return result


def read_space(space: str | Path | Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """The raw space and the name messages give it: a file's path, or "<space dict>"."""
    if isinstance(space, Mapping):
        return copy.deepcopy(dict(space)), "<space dict>"
    return read_yaml(space), str(space)


def resolve_spec(raw: dict[str, Any], source: str, overrides: Sequence[str], smoke: bool
                 ) -> tuple[Spec, dict[str, Any]]:
    """The validated Spec and the raw spec as run (overrides applied; --smoke is a flag of
    the run, recorded apart, so the raw spec stays the file plus --set)."""
    raw = apply_overrides(raw, list(overrides), source)
    spec = validate_spec(raw, source=source)
    if smoke:
        shrink = [f"{key}={min(value, _current(spec, key))}" for key, value in SMOKE_SETTINGS.items()]
        if spec.search.scheduler.name in ("asha", "successive_halving"):
            shrink.append("search.scheduler.grace_period=1")
        if spec.search.scheduler.name == "pbt":  # an exploit within the smoke run's 2 epochs
            shrink.append("search.scheduler.perturbation_interval=1")
        if spec.search.reevaluate is not None:  # at most the top 2 on 2 seeds
            shrink.append(f"search.reevaluate.top_k={min(2, spec.search.reevaluate.top_k)}")
            shrink.append("search.reevaluate.seeds=2")
        spec = validate_spec(apply_overrides(raw, shrink, source), source=source)
    return spec, raw


def _current(spec: Spec, dotted: str):
    node = spec
    for part in dotted.split("."):
        node = getattr(node, part)
    return node


def run_search(space: str | Path | Mapping[str, Any], *, overrides: Sequence[str] = (), smoke: bool = False,
               tracking_uri: str | None = None, storage: str | None = None, address: str | None = None,
               resume: bool | str = False, time_budget: str | float | None = None) -> SearchResult:
    """Runs one search to its end (or its interruption) and returns what it found.

    The command line (`python -m search.run`) is a thin layer over this function: each
    argument is one of its options. Each call starts Ray and stops it at its end, unless Ray
    was already running (`ray.init()` of your own), which it then uses. Nothing here calls
    `sys.exit`, so a notebook can run one search after another in one process.

    Args:
        space: A space file's path, or a dict in the same schema.
        overrides: `KEY=VALUE` strings, as `--set` takes them (`"train.epochs=3"`).
        smoke: Shrink the search to seconds, as `--smoke`: at most 4 trials and 2 epochs on a
            small slice of the data.
        tracking_uri: `tracking.uri`, as `--tracking-uri`.
        storage: `search.storage`, as `--storage`.
        address: Join an existing Ray cluster (`auto` or `HOST:PORT`), as `--address`.
        resume: `True` continues the last interrupted search of this space, a path the one in
            that Ray Tune folder; the other arguments may repeat what the search was started
            with, and anything different is refused.
        time_budget: `search.budget.time` (`"30m"`, `"2h"`, or seconds), as `--time-budget`.

    Returns:
        What the search found, as its MLflow record holds it.

    Raises:
        SpecError: Bad input (its text is the one line the command line prints); nothing was
            started or logged.
    """
    from search.tuning.pipeline import continue_search, start_search

    raw, source = read_space(space)
    every_override = command_line_overrides(overrides, tracking_uri, storage, time_budget)
    if resume is False:
        spec, raw = resolve_spec(raw, source, every_override, smoke)
        return start_search(spec, raw, smoke=smoke, address=address)
    # Resume: the search continues as it was started. The space file may have changed since,
    # so it only says where to look (its name, --storage); what this call sets is checked
    # against what the search recorded.
    spec, _ = resolve_spec(raw, source, command_line_overrides([], None, storage), False)
    return continue_search(spec, None if resume is True else str(resume), every_override, smoke,
                           address=address)
