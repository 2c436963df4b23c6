"""`search.warm_start`: a search that starts from what an earlier search of the same data found.

    search:
      warm_start: {from: rnn_units, top_k: 3}   # an experiment (its latest finished search) or a search run id

Every finished trial of the source whose configuration lies inside this search's space is
told to the searcher with its result (its best epoch by the search metric), as Optuna's
`add_trial` adds a finished trial, so TPE starts informed; the source's `top_k` best
configurations are trained again first (Optuna's `enqueue_trial`), in place of the first
trials the searcher would have proposed. Random search learns nothing from results: it
runs the top_k first and is told nothing. A grid runs every combination anyway (the spec
refuses a warm start there).

Inside the space: every dimension active for the trial's values has a value inside its
distribution, and every other model and train key the two configs share has this
search's value (the fixed data options are the data's digest's business, below). A
dimension inactive here (`when:`) is not compared: the trial did not depend on it here.

Refused before anything starts (exit 2), naming both sides: a source of another search
metric or mode, and a source whose data digest (search/tracking/lineage.py) is not this search's,
unless `ignore_data: true`.

All of this happens once, when the search starts: the searcher's state (its told trials,
its queue of re-runs) is saved with Tune's and a resumed search continues it, telling
nothing twice and re-running nothing again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from mlflow.tracking import MlflowClient

from search import record
from search.errors import SpecError
from search.record import LeftOut, Role, Status
from search.space import conditions
from search.space.dotted import flatten
from search.space.spec import Distribution, Spec
from search.tracking.lineage import DataIdentity, fixed_data_options, logged_data_digest

RUN_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class ToldTrial:
    trial_id: str
    values: dict[str, Any]  # its searched keys active in this space (dotted)
    value: float  # its best epoch by the search metric


@dataclass
class WarmStart:
    """What a search takes from its source, planned before Ray starts."""

    source_run_id: str
    source: str  # the source in words: "search run <id> of experiment <name>"
    told: list[ToldTrial]  # finished trials inside the space, not re-run: told with their results
    reruns: list[ToldTrial]  # the top_k, best first: trained again first
    left_out: dict[str, int] = field(default_factory=dict)  # record.LeftOut reason -> trials
    first_reason: dict[str, str] = field(default_factory=dict)  # reason -> the first such trial, in words

    def metrics(self, told: int) -> dict[str, float]:
        """The counts the search run records; `told`: how many the searcher was told."""
        counts = {record.WARM_START_TOLD: told, record.WARM_START_RERUN: len(self.reruns),
                  record.WARM_START_LEFT_OUT: sum(self.left_out.values())}
        counts.update({record.left_out_metric(reason): self.left_out.get(reason, 0) for reason in LeftOut.ALL})
        return counts

    def describe(self, told: int, algorithm: str) -> str:
        text = (f"warm start from {self.source}: {told} trials told to the searcher with their results, "
                f"its top {len(self.reruns)} run again first")
        if algorithm == "random":
            text += f" (random search learns nothing from results: the other {len(self.told)} are not told)"
        if self.left_out:
            reasons = "; ".join(f"{count} {reason.replace('_', ' ')} (e.g. {self.first_reason[reason]})"
                                for reason, count in self.left_out.items())
            text += f"; left out: {reasons}"
        return text


def plan_warm_start(spec: Spec, identity: DataIdentity, tracking_uri: str) -> WarmStart:
    """Reads the source search from MLflow (writing nothing), refuses one of other data or another
    metric, and sorts its trials into told, re-run and left out."""
    settings = spec.search.warm_start
    client = MlflowClient(tracking_uri=tracking_uri)
    source = find_source(client, settings.source, tracking_uri)
    _check_same_metric(spec, source)
    if not settings.ignore_data:
        _check_same_data(identity, source)
    experiment = client.get_experiment(source.info.experiment_id).name
    plan = WarmStart(source.info.run_id, f"search run {source.info.run_id} of experiment {experiment!r}", [], [])
    usable: list[ToldTrial] = []
    runs = record.all_runs(client, [source.info.experiment_id], record.trial_runs_filter(source.info.run_id),
                           ["attributes.start_time ASC"])
    for run in runs:
        trial_id = run.data.tags.get(record.TRIAL_ID, run.info.run_name)
        status = run.data.tags.get(record.STATUS)
        if status == Status.FAILED:
            _leave_out(plan, LeftOut.FAILED, f"trial {trial_id} failed")
            continue
        if not record.is_completed(status):
            _leave_out(plan, LeftOut.UNFINISHED, f"trial {trial_id} is {status or 'running'}")
            continue
        params = {key: record.read_param(text) for key, text in run.data.params.items()}
        values, outside = inside_space(spec, params)
        if outside:
            _leave_out(plan, LeftOut.OUTSIDE_SPACE, f"trial {trial_id}: {outside}")
            continue
        history = [value for _, value in record.metric_history(client, run.info.run_id, spec.search.metric)
                   if record.is_number(value)]
        if not history:
            _leave_out(plan, LeftOut.NO_METRIC, f"trial {trial_id} has no {spec.search.metric}")
            continue
        best = min(history) if spec.search.mode == "min" else max(history)
        usable.append(ToldTrial(trial_id, values, best))
    usable.sort(key=lambda trial: trial.value if spec.search.mode == "min" else -trial.value)
    plan.reruns, plan.told = usable[:settings.top_k], usable[settings.top_k:]
    return plan


def _leave_out(plan: WarmStart, reason: str, example: str) -> None:
    plan.left_out[reason] = plan.left_out.get(reason, 0) + 1
    plan.first_reason.setdefault(reason, example)


def find_source(client: MlflowClient, source: str, tracking_uri: str):
    """The source's search run: the run with this id, or the experiment's latest finished search."""
    where = f"search.warm_start.from: {source!r}"
    if RUN_ID.match(source):
        try:
            run = client.get_run(source)
        except Exception:  # MLflow raises its own error for an unknown id; an experiment may look alike
            run = None
        if run is not None:
            if run.data.tags.get(record.ROLE) != Role.SEARCH:
                raise SpecError(f"{where} is a {run.data.tags.get(record.ROLE, 'non-search')} run, not a search run")
            if run.info.status != "FINISHED":
                raise SpecError(f"{where}: that search run is {run.info.status}, not finished; resume it first "
                                "(a warm start takes a finished search's trials)")
            return run
    experiment = client.get_experiment_by_name(source)
    if experiment is None:
        raise SpecError(f"{where} is neither an experiment nor a search run id in {tracking_uri}")
    runs = record.all_runs(client, [experiment.experiment_id],
                           f"tags.`{record.ROLE}` = '{Role.SEARCH}' and attributes.status = 'FINISHED'",
                           ["attributes.start_time DESC"])
    if not runs:
        raise SpecError(f"{where}: experiment {source!r} has no finished search run")
    return runs[0]


def _check_same_metric(spec: Spec, source) -> None:
    theirs = (source.data.params.get(record.SEARCH_METRIC), source.data.params.get(record.SEARCH_MODE))
    ours = (spec.search.metric, spec.search.mode)
    if theirs != ours:
        raise SpecError(f"search.warm_start.from: search run {source.info.run_id} selected by "
                        f"{theirs[0]} ({theirs[1]}), this search by {ours[0]} ({ours[1]}); its results would "
                        "tell the searcher about another objective")


def _check_same_data(identity: DataIdentity, source) -> None:
    theirs = logged_data_digest(source)
    if theirs != identity.digest:
        what = f"data digest {theirs}" if theirs else "no data digest (logged before searches recorded their data)"
        raise SpecError(f"search.warm_start.from: search run {source.info.run_id} has {what}, this search's data "
                        f"has digest {identity.digest} ({identity.source}); its results are of other data "
                        "(search.warm_start.ignore_data: true takes them anyway)")


def inside_space(spec: Spec, params: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """A trial's searched values as this space would have them (its active keys), and why it is
    outside this space (None when it is inside). `params`: its config, dotted, values read back."""
    values: dict[str, Any] = {}
    for key in conditions.dependency_order(spec.space):
        if not conditions.is_active(spec.space, key, {**params, **values}):
            continue
        if key not in params:
            return values, f"no value of {key}, which this space searches"
        if not within(spec.space[key], params[key]):
            return values, f"{key} = {params[key]!r} is outside {spec.space[key].describe()}"
        values[key] = params[key]
    from search.data import get_task

    fixed_data = set(fixed_data_options(get_task(spec.task), spec.data))
    for key, ours in flatten(spec.base_config()).items():
        if key in spec.space or (key.startswith("data.") and key.removeprefix("data.") in fixed_data):
            continue
        if key in params and not conditions.same_value(params[key], ours):
            return values, f"{key} = {params[key]!r}, this search's is {ours!r}"
    return values, None


def within(dist: Distribution, value: Any) -> bool:
    if dist.kind in ("choice", "grid"):
        return conditions.holds(dist.args, value)
    if not record.is_number(value):
        return False
    low, high = dist.args[0], dist.args[1]
    if dist.kind == "randint":
        return float(value).is_integer() and low <= value <= high
    return low <= value <= high


def tell_optuna(plan: WarmStart, spec: Spec, define_by_run, sampler):
    """An Optuna study told the plan's trials and queued with its re-runs, for OptunaSearch to
    load (its `storage` and `study_name`): Optuna's own add_trial and enqueue_trial, since
    OptunaSearch's `evaluated_rewards` does not take a define-by-run space. Returns the storage,
    the study's name and how many trials it was told (one whose value Optuna's distribution
    cannot hold is left out, as outside the space)."""
    import optuna

    from search.space.domains import optuna_name

    storage, name = optuna.storages.InMemoryStorage(), "optuna"
    study = optuna.create_study(storage=storage, study_name=name, sampler=sampler,
                                direction="minimize" if spec.search.mode == "min" else "maximize")
    told = 0
    for trial in plan.told:
        params = {optuna_name(key): value for key, value in trial.values.items()}
        distributions = {optuna_name(key): define_by_run.distributions[key] for key in trial.values}
        try:
            study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=trial.value))
        except ValueError as err:  # a value off a quantised grid, say: left out, not told wrong
            _leave_out(plan, LeftOut.OUTSIDE_SPACE, f"trial {trial.trial_id}: {err}")
            continue
        told += 1
    for trial in plan.reruns:
        study.enqueue_trial({optuna_name(key): value for key, value in trial.values.items()})
    return storage, name, told
