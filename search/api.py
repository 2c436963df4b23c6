"""The Python API: `from search import run_search`.

    result = run_search("spaces/rnn_units.yaml", overrides=["train.epochs=3"], smoke=True)
    result.best_config, result.test_metrics, result.trials

The command line (`python -m search.run`) is a thin layer over this. Bad input raises
SpecError (one line, nothing started or logged); nothing here calls sys.exit, so a
notebook can run one search after another in one process.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

import pandas as pd
import yaml

from search.dotted import flatten
from search.errors import SpecError
from search.spec import Spec, apply_overrides, read_yaml, validate_spec
from search.storage import resolve_storage

SMOKE_SETTINGS = {"search.num_samples": 4, "train.epochs": 2}
EXIT_CODES = {"finished": 0, "no_result": 1, "interrupted": 130}
RECORD_PENDING_EXIT = 3  # finished, but MLflow did not take the whole record: search.sync writes it


@dataclass
class SearchResult:
    """What a search produced; also in MLflow (the search run `search_run_id`).

    Attributes:
        status: `finished`, `no_result` (no trial produced a finite value of the search metric)
            or `interrupted`; `exit_code` is the command line's exit status for it.
        name: The space's name.
        search_run_id: The MLflow search run; each trial is a run nested under it.
        experiment_id: The MLflow experiment.
        tracking_uri: The MLflow tracking store the record went to.
        experiment_dir: Ray Tune's folder of the search: `resume=` it to continue an
            interrupted search.
        trials: The end-of-search table, a row per trial, best first.
        data_digest: The data's identity, as the search run's MLflow dataset input has it.
        best_trial_id: The Ray trial id of the best trial (with several objectives, the front
            member `search.select` picked).
        best_config: The best trial's config as dotted keys, as its run's params
            (`{"train.lr": 0.003, ...}`); a dimension it did not search (`when:`) is left out.
        selection_value: The best trial's best epoch by the search metric.
        test_metrics: The best trial's metrics on the test split, evaluated once.
        baselines: The yardsticks on the same test split (`baseline_<name>_test_<metric>`).
        model_uri: `runs:/<search run id>/best_model`: the model exported (with a re-evaluation,
            the winner's best seed; with a refit, the refit model).
        registered_model: `models:/<name>/<version>`, where the store has a registry.
        reevaluation: With `search.reevaluate`: a row per re-evaluated trial (trial, seeds,
            values, mean, std, winner).
        reeval_winner_trial_id: With `search.reevaluate`: the configuration with the best mean
            over its fresh seeds.
        reeval_metrics: With `search.reevaluate`: the figures logged on the search run
            (`reeval_<metric>_mean`, `test_<m>_mean`, ...).
        reevaluation_skipped: Why the re-evaluation did not run, where a budget left too little
            for it.
        budget_spent: With `search.budget`: `time` or `trial_epochs` when one ran out.
        budget_used: With `search.budget`: `budget_time_used_s` and `budget_trial_epochs_used`.
        warm_start: With `search.warm_start`: its source and counts, as the search run records
            them (`search.warm_start_from`, `warm_start_told`, ...).
        refit_metrics: With `search.refit`: the refit model's metrics on the test split
            (`refit_test_*`).
        record_pending: Writes MLflow did not take within `tracking.outage_wait`; they wait in
            the spool of `experiment_dir` for `python -m search.sync` (or a resume).
        champion_decision: The registered version's alias decision, with its reason.
        pareto: With several `search.objectives`: the Pareto front, a row per member by the
            first objective (trial, each objective at its best epoch, its test metrics,
            `selected`).
    """

    status: Literal["finished", "no_result", "interrupted"]
    name: str
    search_run_id: str
    experiment_id: str
    tracking_uri: str
    experiment_dir: str  # Ray Tune's folder: `resume=` it to continue an interrupted search
    trials: pd.DataFrame  # the end-of-search table, a row per trial, best first
    data_digest: str | None = None  # the data's identity (search/lineage.py), as MLflow's dataset input has it
    best_trial_id: str | None = None
    # Dotted keys, as its run's params (a dimension it did not search, `when:`, left out): {"train.lr": 0.003, ...}
    best_config: dict[str, Any] = field(default_factory=dict)
    selection_value: float | None = None  # the best trial's best epoch by the search metric
    test_metrics: dict[str, float] = field(default_factory=dict)
    baselines: dict[str, float] = field(default_factory=dict)
    model_uri: str | None = None  # runs:/<search run id>/best_model
    registered_model: str | None = None  # models:/<name>/<version>, where the store has a registry
    # With search.reevaluate: a row per re-evaluated trial (trial, seeds, values, mean, std,
    # winner), the winner, and the figures logged on the search run (reeval_<metric>_mean,
    # test_<m>_mean, ...). model_uri is then the winner's best seed.
    reevaluation: pd.DataFrame | None = None
    reeval_winner_trial_id: str | None = None
    reeval_metrics: dict[str, float] = field(default_factory=dict)
    reevaluation_skipped: str | None = None  # why, where the budget left too little for it
    # With search.budget: which ran out ("time", "trial_epochs"; None when neither did) and what
    # the search used ({"budget_time_used_s": ..., "budget_trial_epochs_used": ...}).
    budget_spent: str | None = None
    budget_used: dict[str, float] = field(default_factory=dict)
    # With search.warm_start: its source and counts as the search run records them
    # ({"search.warm_start_from": <run id>, "warm_start_told": 14, "warm_start_rerun": 3, ...}).
    warm_start: dict[str, Any] = field(default_factory=dict)
    # With search.refit: the refit model's metrics on the test split (refit_test_*); model_uri is then it.
    refit_metrics: dict[str, float] = field(default_factory=dict)
    # MLflow did not take the whole record in tracking.outage_wait: this many writes wait in the
    # spool of experiment_dir, for `python -m search.sync` (or --resume).
    record_pending: int = 0
    champion_decision: str | None = None  # the registered version's alias decision, with its reason
    # The registration as the record's writer runs it (search/model_export.py), settled at the end.
    registration: Any = field(default=None, repr=False)
    # With several search.objectives: the Pareto front, a row per member by the first objective
    # (trial, each objective at its best epoch, its test metrics, selected); best_trial_id is
    # the member search.select picked.
    pareto: pd.DataFrame | None = None

    @property
    def exit_code(self) -> int:
        if self.record_pending and self.status == "finished":
            return RECORD_PENDING_EXIT
        return EXIT_CODES[self.status]


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


def first_difference(started: dict[str, Any], now: dict[str, Any]) -> tuple[str, Any, Any] | None:
    flat_started, flat_now = flatten(started), flatten(now)
    for key in dict.fromkeys([*flat_now, *flat_started]):
        if flat_started.get(key, "<unset>") != flat_now.get(key, "<unset>"):
            return key, flat_started.get(key, "<unset>"), flat_now.get(key, "<unset>")
    return None


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
    from search.pipeline import continue_search, start_search

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


def check_same_as_started(record, overrides: Sequence[str], smoke: bool) -> None:
    """A re-typed original command is accepted; a changed value is refused, naming it.

    Compared as resolved settings, so `--tracking-uri sqlite:///mlflow.db` matches a search
    started without it (that is the default)."""
    started = validate_spec(record.spec, source="--resume").model_dump()
    started["tracking"]["uri"] = record.tracking_uri
    now = validate_spec(apply_overrides(record.spec, list(overrides), "--resume"), source="--resume").model_dump()
    for settings in (started, now):  # null and ./ray_results are the same place
        settings["search"]["storage"] = resolve_storage(settings["search"]["storage"])
    difference = first_difference(started, now)
    if difference is not None:
        key, started, given = difference
        raise SpecError(f"--resume: {key} was {started!r} when the search started, {given!r} now; a "
                        "resumed search runs as it was started (leave the option out, or give the "
                        "value it started with)")
    if smoke and not record.smoke:
        raise SpecError("--resume: --smoke: the search was started without --smoke")
