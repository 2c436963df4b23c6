"""Reading searches back from MLflow for the comparison: runs, params, metric histories.

Only the record search/record.py names is read here (the tags of a search or trial
run, params, per-epoch metrics, spec_resolved.yaml), so the comparison works on any
store a search wrote to: sqlite, a server over HTTP.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass, field

import yaml
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from search import record
from search.errors import SpecError
from search.record import COMPARISON_EXPERIMENT, Role, Status, all_runs, metric_history
from search.space.dotted import flatten
from search.space.spec import TrainSettings
from search.tracking.store import check_tracking_store

SEARCH_RUNS = f"tags.`{record.ROLE}` = '{Role.SEARCH}'"


@dataclass
class TrialRecord:
    run_id: str
    trial_id: str
    status: str  # a record.Status: how the trial ended
    error: str | None
    params: dict[str, str]  # the trial's whole resolved config, as dotted keys
    history: dict[str, list[tuple[int, float]]]  # metric -> [(epoch, value)], epochs ascending
    tags: dict[str, str] = field(default_factory=dict)
    test: dict[str, float] = field(default_factory=dict)  # test_* of a Pareto front member, scored once

    @property
    def pareto(self) -> bool:
        return self.tags.get(record.PARETO) == "true"

    def value_at(self, metric: str, epoch: int) -> float | None:
        """`metric` at `epoch`; a cost known before training (logged once, at step 0) at any epoch."""
        found = dict(self.history.get(metric, []))
        value = found.get(epoch, found.get(0))
        return value if value is not None and math.isfinite(value) else None

    def values(self, metric: str) -> list[float]:
        return [value for _, value in self.history.get(metric, []) if math.isfinite(value)]

    @property
    def epochs(self) -> int:
        return max((step for curve in self.history.values() for step, _ in curve), default=0)


@dataclass
class SearchRecord:
    """One experiment's chosen search run and its trials (or why there is none)."""

    experiment: str
    experiment_id: str
    run: Run | None = None
    trials: list[TrialRecord] = field(default_factory=list)
    base: dict[str, str] | None = None  # spec.yaml's data/model/train as dotted keys
    other_runs: int = 0  # older search runs of the experiment that the comparison leaves out
    note: str | None = None  # why there is nothing (or less) to compare
    # With search.reevaluate: trial id -> its re-evaluation seeds' best epochs by the search metric.
    reevaluations: dict[str, list[float]] = field(default_factory=dict)

    @property
    def params(self) -> dict[str, str]:
        return self.run.data.params if self.run else {}

    @property
    def tags(self) -> dict[str, str]:
        return self.run.data.tags if self.run else {}

    @property
    def metrics(self) -> dict[str, float]:
        return self.run.data.metrics if self.run else {}

    @property
    def kind(self) -> str:
        return self.tags.get(record.KIND, "unknown")

    @property
    def metric(self) -> str:
        return self.params.get(record.SEARCH_METRIC, "val_loss")

    @property
    def mode(self) -> str:
        return self.params.get(record.SEARCH_MODE, "min")

    @property
    def objectives(self) -> list[tuple[str, str]]:
        """[(metric, mode), ...] of a search of several objectives; [] for one metric."""
        written = record.read_param(self.params.get(record.SEARCH_OBJECTIVES, "None"))
        if not isinstance(written, list):
            return []
        return [(o["metric"], o["mode"]) for o in written if isinstance(o, dict) and {"metric", "mode"} <= set(o)]

    def best_epoch(self, trial: TrialRecord) -> int | None:
        """The epoch that stands for the trial: its best by the search metric (the first, on a tie)."""
        curve = [(step, value) for step, value in trial.history.get(self.metric, []) if math.isfinite(value)]
        if not curve:
            return None
        sign = 1 if self.mode == "min" else -1
        return min(curve, key=lambda point: (sign * point[1], point[0]))[0]

    @property
    def space(self) -> dict[str, tuple[str, list]]:
        """The searched keys: {"train.lr": ("loguniform", [0.0001, 0.01]), ...}."""
        return {name.removeprefix(record.SPACE_PREFIX): record.read_space_param(text)
                for name, text in self.params.items() if name.startswith(record.SPACE_PREFIX)}

    @property
    def conditions(self) -> dict[str, dict[str, list]]:
        """The searched keys that have a `when` (search/space/conditions.py), with it; a trial run
        holds such a key only where it was active."""
        found = {name.removeprefix(record.SPACE_PREFIX): record.read_space_when(text)
                 for name, text in self.params.items() if name.startswith(record.SPACE_PREFIX)}
        return {key: when for key, when in found.items() if when}

    @property
    def best_trial_id(self) -> str | None:
        return self.params.get(record.BEST_TRIAL_ID)

    def selection_value(self, trial: TrialRecord) -> float | None:
        """A trial's best epoch by the search metric, as the search itself ranked it."""
        values = trial.values(self.metric)
        if not values:
            return None
        return min(values) if self.mode == "min" else max(values)

    def ranked_trials(self) -> list[TrialRecord]:
        """Best first by the search metric; trials without a value last, in run order."""
        def key(trial):
            value = self.selection_value(trial)
            if value is None:
                return (1, 0.0)
            return (0, value if self.mode == "min" else -value)
        return sorted(self.trials, key=key)


def open_store(uri: str) -> MlflowClient:
    """A client on an existing store; refuses a sqlite path with no file rather than creating one."""
    check_tracking_store(uri, "--tracking-uri", must_exist=True)
    client = MlflowClient(tracking_uri=uri)
    try:
        client.search_experiments(max_results=1)
    except MlflowException as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SpecError(f"--tracking-uri {uri}: cannot read the MLflow store: {reason}") from None
    return client


def search_runs_of(client: MlflowClient, experiment_id: str) -> list[Run]:
    """The experiment's search runs, newest first."""
    return all_runs(client, [experiment_id], SEARCH_RUNS, ["attributes.start_time DESC"])


def choose_experiments(client: MlflowClient, names: list[str], uri: str) -> list:
    """The named experiments (unknown names refused), or every one that holds search runs."""
    experiments = [e for e in client.search_experiments(max_results=50000)
                   if e.name != COMPARISON_EXPERIMENT]
    if names:
        by_name = {e.name: e for e in experiments}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            available = ", ".join(sorted(by_name)) or "none"
            raise SpecError(f"experiment {unknown[0]!r} is not in {uri}; available: {available}")
        return [by_name[n] for n in dict.fromkeys(names)]
    chosen = [e for e in experiments if client.search_runs([e.experiment_id], SEARCH_RUNS, max_results=1)]
    if not chosen:
        raise SpecError(f"no experiment in {uri} holds search runs (run python -m search.run SPACE first)")
    return sorted(chosen, key=lambda e: e.name)


def load_searches(client: MlflowClient, experiment, every_run: bool = False) -> list[SearchRecord]:
    """The experiment's latest finished search run (or all of them), with trials and histories.

    "Latest finished" is what a user means by "my rnn_units search": a later run of the
    same space supersedes earlier ones, and an interrupted or crashed one has no test
    evaluation to compare. When no search run finished, the latest one is shown instead,
    with its state, so an interrupted search still shows the trials it completed.
    """
    runs = search_runs_of(client, experiment.experiment_id)
    nothing = SearchRecord(experiment.name, experiment.experiment_id)
    if not runs:
        nothing.note = "no search runs in this experiment"
        return [nothing]
    finished = [r for r in runs if r.info.status == "FINISHED"]
    if every_run:
        chosen = runs
    elif finished:
        chosen = finished[:1]
    else:
        chosen = runs[:1]
    searches = []
    for run in chosen:
        search = SearchRecord(experiment.name, experiment.experiment_id, run=run,
                              other_runs=len(runs) - len(chosen))
        search.trials = load_trials(client, search)
        search.reevaluations = load_reevaluations(client, search)
        search.base = load_base_config(client, run.info.run_id)
        if run.info.status != "FINISHED":
            search.note = f"search run ended {run.info.status}, so it has no test evaluation"
        if not any(record.is_completed(t.status) for t in search.trials):
            search.note = "no finished trials" + (f" ({search.note})" if search.note else "")
        searches.append(search)
    return searches


def load_trials(client: MlflowClient, search: SearchRecord) -> list[TrialRecord]:
    runs = all_runs(client, [search.experiment_id], record.trial_runs_filter(search.run.info.run_id),
                    ["attributes.start_time ASC"])
    curves = (*record.CURVES.get(search.kind, record.ALL_CURVES), *record.COSTS)
    trials = []
    for run in runs:
        history = {}
        for metric in curves:
            if metric in run.data.metrics:
                history[metric] = metric_history(client, run.info.run_id, metric)
        params = {k: v for k, v in run.data.params.items() if k != record.MODEL_PARAMS}
        trials.append(TrialRecord(
            run_id=run.info.run_id, trial_id=run.data.tags.get(record.TRIAL_ID, run.info.run_name),
            status=run.data.tags.get(record.STATUS, Status.RUNNING), error=run.data.tags.get(record.ERROR),
            params=params, history=history, tags=dict(run.data.tags),
            test={k: v for k, v in run.data.metrics.items() if k.startswith("test_")}))
    return trials


def load_reevaluations(client: MlflowClient, search: SearchRecord) -> dict[str, list[float]]:
    """The search's re-evaluation runs that ended, as each seed's best epoch, by the trial whose
    configuration they trained again."""
    runs = all_runs(client, [search.experiment_id],
                    record.trial_runs_filter(search.run.info.run_id, Role.REEVALUATION))
    found: dict[str, list[float]] = {}
    for run in runs:
        if not record.is_completed(run.data.tags.get(record.STATUS)):
            continue
        values = [value for _, value in metric_history(client, run.info.run_id, search.metric)
                  if math.isfinite(value)]
        if values:
            found.setdefault(run.data.tags.get(record.CONFIG_OF, "?"), []).append(
                min(values) if search.mode == "min" else max(values))
    return found


def load_base_config(client: MlflowClient, run_id: str) -> dict[str, str] | None:
    """spec.yaml's data/model/train sections, dotted, with train's defaults filled in.

    Read as written rather than re-validated: validation needs the data and model
    registries (seconds of imports) and would refuse a spec.yaml that an older version
    of the code accepted. Data and model defaults a spec leaves out stay unknown, and a
    searched key with no known base value simply shows its value.
    """
    # spec_resolved.yaml (every default filled in, --set and --smoke applied) where the
    # search logged one; spec.yaml, the file as written, from searches that did not.
    text = read_artifact(client, run_id, record.SPEC_RESOLVED) or read_artifact(client, run_id, record.SPEC)
    try:
        raw = yaml.safe_load(text) if text is not None else None
    except yaml.YAMLError:
        return None
    if not isinstance(raw, dict):
        return None
    train = {name: info.default for name, info in TrainSettings.model_fields.items()}
    train.update(raw.get("train") or {})
    sections = {"data": raw.get("data") or {}, "model": raw.get("model") or {}, "train": train}
    return {key: str(value) for key, value in flatten(sections).items()}


def read_artifact(client: MlflowClient, run_id: str, path: str) -> bytes | None:
    """One artifact's bytes, or None when the run has no such artifact."""
    with tempfile.TemporaryDirectory() as folder:
        try:
            local = client.download_artifacts(run_id, path, folder)
        except (MlflowException, OSError):
            return None
        if not os.path.isfile(local):
            return None
        with open(local, "rb") as handle:
            return handle.read()
