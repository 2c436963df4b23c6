"""What a search produced, as the Python API returns it and the search's end writes it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

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
    data_digest: str | None = None  # the data's identity (search/tracking/lineage.py), as MLflow's dataset input has it
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
    # The registration as the record's writer runs it (search/tracking/model_export.py), settled at the end.
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
