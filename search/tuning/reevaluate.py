"""After the search: the top configurations trained again from scratch on fresh seeds.

The best trial by validation out of many overstates itself, and one lucky seed can win a
search (Optuna has no repeated evaluation: optuna#4124, optuna#433). With
`search.reevaluate: {top_k, seeds}` the top_k trials by the search metric are trained
again, each on `seeds` fresh values of train.seed (the trial's own seed + 1, + 2, ...:
other weights, other batch orders; the same data split), through Ray like the trials
(same resources and concurrency, every epoch: no scheduler cuts them), each a run nested
under the search run, tagged search.role=reevaluation and search.config_of=<trial id>.

The winner is the configuration with the best mean, over its seeds, of each seed's best
epoch by the search metric; a configuration with a failed seed wins only if every one
has one. Only the winner's seeds are scored on the test split. The model exported is the
winner's seed with the best validation value (selected like a trial, never on test);
test_<m>_mean and _std over all its seeds are the figure to report.

Resuming: a re-evaluation run that ended is kept and not trained again; one the
interruption cut short is deleted and its seed trained again from scratch.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from mlflow.exceptions import MlflowException

from search import record
from search.record import Role
from search.space.spec import Spec
from search.tracking.record_writer import real_run_id
from search.tracking.summary import mean_std
from search.tracking.tracker import Tracker, TrialLogger, TrialRun
from search.tuning.budget import Budget, epoch_seconds
from search.tuning.evaluate import Evaluation, trial_at_checkpoint
from search.tuning.no_repeats import config_key
from search.tuning.pbt_schedule import replay_of


@dataclass
class Job:
    """One configuration on one fresh seed."""

    config_of: str  # the trial whose configuration this trains again
    seed: int
    config: dict[str, Any]


@dataclass
class SeedResult:
    run_id: str
    config_of: str
    seed: int
    status: str
    value: float | None  # its best epoch by the search metric; None when it failed
    epochs: int = 0  # the epochs it trained


@dataclass
class Reevaluation:
    metric: str
    mode: str
    ranked: list[str]  # the re-evaluated trials, in the search's order (the search's best first)
    seeds: dict[str, list[SeedResult]]  # trial id -> its seeds, ascending
    winner: str | None = None
    test: dict[str, list[float]] = field(default_factory=dict)  # the winner's seeds on the test split
    exported: Evaluation | None = None  # the winner's best seed, at its best checkpoint
    totals: list[dict] = field(default_factory=list)  # this attempt's runs' last results (CPU and GPU seconds)

    def values(self, trial_id: str) -> list[float]:
        return [s.value for s in self.seeds.get(trial_id, []) if s.value is not None]

    def mean_std(self, trial_id: str) -> tuple[float | None, float | None]:
        return mean_std(self.values(trial_id))

    @property
    def changed_winner(self) -> bool:
        return self.winner is not None and self.winner != self.ranked[0]

    def search_run_metrics(self) -> dict[str, float]:
        """What the search run logs: the winner's search metric and test metrics over its seeds."""
        out: dict[str, float] = {}
        if self.winner is None:
            return out
        for name, values in ((record.reeval_metric(self.metric), self.values(self.winner)), *self.test.items()):
            mean, std = mean_std(values)
            out.update(zip(record.mean_and_std(name), (mean, std)))
        out[record.REEVAL_WINNER_CHANGED] = float(self.changed_winner)
        return {key: value for key, value in out.items() if value is not None}

    def epochs(self) -> int:
        """The epochs its runs trained, all seeds together."""
        return sum(seed.epochs for found in self.seeds.values() for seed in found)

    def table(self) -> pd.DataFrame:
        """A row per re-evaluated configuration: its seeds' values, their mean and std."""
        rows = []
        for trial_id in self.ranked:
            mean, std = self.mean_std(trial_id)
            rows.append({"trial": trial_id, "seeds": [s.seed for s in self.seeds.get(trial_id, [])],
                         "values": self.values(trial_id), "mean": mean, "std": std,
                         "winner": trial_id == self.winner})
        return pd.DataFrame(rows)


def top_trials(logger: TrialLogger, metric: str, mode: str, k: int) -> list[str]:
    """The k best trials by their best epoch's value of the search metric, best first (none that
    broke a constraint)."""
    scored = [(trial.best[metric], trial_id) for trial_id, trial in logger.trials.items()
              if trial.best is not None and record.is_number(trial.best.get(metric)) and trial.feasible is not False]
    scored.sort(key=lambda pair: pair[0] if mode == "min" else -pair[0])
    return [trial_id for _, trial_id in scored[:k]]


def plan(spec: Spec, logger: TrialLogger) -> tuple[list[str], list[Job]]:
    settings = spec.search.reevaluate
    ranked = top_trials(logger, spec.search.metric, spec.search.mode, settings.top_k)
    jobs = []
    for trial_id in ranked:
        config = logger.trials[trial_id].config
        if spec.search.scheduler.name == "pbt":  # its best checkpoint's schedule, trained again from scratch
            config = replay_of(logger.client, logger.trials[trial_id])
        for offset in range(1, settings.seeds + 1):
            seed = int(config["train"]["seed"]) + offset
            jobs.append(Job(trial_id, seed, {**config, "train": {**config["train"], "seed": seed}}))
    return ranked, jobs


class ReevaluationLogger(TrialLogger):
    """The trial logger for re-evaluation runs: same record, role reevaluation, and the tag
    naming the trial whose configuration each run trains again."""

    role = Role.REEVALUATION

    def __init__(self, tracker: Tracker, spec: Spec, jobs: list[Job], class_names: list[str] | None = None):
        super().__init__(tracker, spec, class_names=class_names)
        self.jobs = {config_key(job.config): job for job in jobs}

    def run_tags(self, trial) -> dict[str, str]:
        return {record.CONFIG_OF: self.jobs[config_key(trial.config)].config_of}


def reevaluate(spec: Spec, task, loaded: Any, tracker: Tracker, logger: TrialLogger,
               experiment_dir: str) -> Reevaluation | None:
    """Trains the jobs not done yet, picks the winner, scores its seeds on the test split.
    None when the re-evaluation was interrupted (every run it started is then ended)."""
    from search.tuning.tuner import build_reevaluation_tuner

    ranked, jobs = plan(spec, logger)
    todo = remaining_jobs(jobs, tracker)
    done = len(jobs) - len(todo)
    checkpoints: dict[str, Any] = {}  # run id -> the Ray checkpoint of its best epoch (this attempt's runs)
    if todo:
        print(f"[search] re-evaluating the top {len(ranked)} configurations on {spec.search.reevaluate.seeds} "
              f"fresh seeds: {len(todo)} runs" + (f" ({done} done before)" if done else ""),
              flush=True)
        runner = ReevaluationLogger(tracker, spec, todo, class_names=task.class_names(loaded))
        tuner = build_reevaluation_tuner(spec, loaded, [job.config for job in todo], experiment_dir,
                                         f"reevaluation-{time.strftime('%Y%m%d-%H%M%S')}", [runner])
        try:
            results = tuner.fit()
        except KeyboardInterrupt:
            results = None
        if results is None or runner.unfinished or runner.trials_created < len(todo):
            runner.end_unfinished()
            return None
        for result in results:
            best = result.get_best_checkpoint(metric=spec.search.metric, mode=spec.search.mode)
            known = runner.trials.get(result.metrics.get("trial_id"))
            if best is not None and known is not None:
                checkpoints[known.run_id] = best

    found = _ended_runs(tracker)
    # Keyed by the runs' MLflow ids, as _ended_runs reads them (a run created while MLflow was
    # down had a spool-local id in the logger).
    checkpoints = {real_run_id(tracker.client, run_id): best for run_id, best in checkpoints.items()}
    outcome = Reevaluation(spec.search.metric, spec.search.mode, ranked, seeds={
        trial_id: sorted((found[(trial_id, job.seed)] for job in jobs if job.config_of == trial_id
                          and (trial_id, job.seed) in found), key=lambda s: s.seed)
        for trial_id in ranked})
    outcome.winner = pick_winner(outcome)
    if todo:
        outcome.totals = runner.resource_totals()
    if outcome.winner is not None:
        _score_winner(spec, task, loaded, tracker, outcome, logger.trials[outcome.winner], checkpoints)
    return outcome


def remaining_jobs(jobs: list[Job], tracker: Tracker) -> list[Job]:
    """The jobs no earlier attempt of this search ended (a resumed re-evaluation's rest)."""
    done = _ended_runs(tracker)
    return [job for job in jobs if (job.config_of, job.seed) not in done]


def pick_winner(outcome: Reevaluation) -> str | None:
    """The best mean over seeds; configurations with every seed scored before any with a failed one."""
    def complete(trial_id: str) -> bool:
        return len(outcome.values(trial_id)) == len(outcome.seeds[trial_id])

    candidates = [t for t in outcome.ranked if outcome.values(t)]
    if any(complete(t) for t in candidates):
        candidates = [t for t in candidates if complete(t)]
    if not candidates:
        return None
    sign = 1 if outcome.mode == "min" else -1
    return min(candidates, key=lambda t: sign * outcome.mean_std(t)[0])


def _ended_runs(tracker: Tracker) -> dict[tuple[str, int], SeedResult]:
    """The search run's re-evaluation runs that ended, by (trial, seed); runs an interruption
    cut short (interrupted, or RUNNING after a crash) are deleted, to be trained again."""
    runs = record.all_runs(tracker.client, [tracker.experiment_id],
                           record.trial_runs_filter(tracker.run_id, Role.REEVALUATION))
    found = {}
    for run in runs:
        status = run.data.tags.get(record.STATUS)
        if not record.has_ended(status):
            tracker.client.delete_run(run.info.run_id)
            continue
        history = record.metric_history(tracker.client, run.info.run_id, tracker.spec.search.metric)
        values = [value for _, value in history if record.is_number(value)]
        best = (min(values) if tracker.spec.search.mode == "min" else max(values)) if values else None
        seed = int(record.read_param(run.data.params["train.seed"]))
        config_of = run.data.tags[record.CONFIG_OF]
        found[(config_of, seed)] = SeedResult(run.info.run_id, config_of, seed, status,
                                              best if record.is_completed(status) else None, len(history))
    return found


def _score_winner(spec: Spec, task, loaded: Any, tracker: Tracker, outcome: Reevaluation, winner: TrialRun,
                  checkpoints: dict[str, Any]) -> None:
    """Each of the winner's seeds at its best checkpoint on the test split, logged on its run;
    the seed with the best validation value becomes the exported model."""
    scored = [s for s in outcome.seeds[outcome.winner] if s.value is not None]
    sign = 1 if spec.search.mode == "min" else -1
    best_seed = min(scored, key=lambda s: sign * s.value)
    for seed in scored:
        config = {**winner.config, "train": {**winner.config["train"], "seed": seed.seed}}
        with _checkpoint_folder(tracker, seed.run_id, checkpoints.get(seed.run_id)) as folder:
            trial = trial_at_checkpoint(task, loaded, config, folder)
        scores = trial.score("test")
        confusion = scores.pop("test_confusion", None)
        tracker.log_metrics(scores, run_id=seed.run_id)
        for name, value in scores.items():
            outcome.test.setdefault(name, []).append(value)
        if seed is best_seed:
            options = task.Options(**config["data"])
            outcome.exported = Evaluation(
                trial_id=outcome.winner, config=config, selection_value=seed.value, test=scores,
                baselines=task.baselines(loaded, options), test_confusion=confusion,
                class_names=trial.splits.class_names, trial=trial)


@contextlib.contextmanager
def _checkpoint_folder(tracker: Tracker, run_id: str, checkpoint):
    """A local folder with a run's best checkpoint: Ray's (this attempt's runs, any storage)
    or the run's best_checkpoint artifact in MLflow (runs an earlier attempt trained)."""
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            yield folder
        return
    with tempfile.TemporaryDirectory() as folder:
        try:
            local = tracker.client.download_artifacts(run_id, record.BEST_CHECKPOINT, folder)
        except (MlflowException, OSError) as err:
            raise RuntimeError(f"re-evaluation run {run_id} has no {record.BEST_CHECKPOINT} artifact "
                               f"to score on the test split ({err})") from None
        yield local


def trial_table_columns(outcome: Reevaluation | None) -> dict[str, dict[str, float]]:
    """reeval_<metric>_mean and _std by trial id, for the end-of-search table."""
    if outcome is None:
        return {}
    names = record.mean_and_std(record.reeval_metric(outcome.metric))
    columns = {}
    for trial_id in outcome.ranked:
        columns[trial_id] = dict(zip(names, outcome.mean_std(trial_id)))
    return columns


def winner_params(outcome: Reevaluation) -> dict[str, str]:
    return {record.REEVAL_WINNER_TRIAL_ID: outcome.winner} if outcome.winner else {}


def reevaluation_skip_reason(spec: Spec, budget: Budget, logger, tracker) -> str | None:
    """Why the search's re-evaluation does not fit in what is left of its budget; None when it does.
    Its runs' epoch times are estimated as those of the trials whose configurations they train
    again (measured beside as many other trials as the re-evaluation runs at once)."""
    jobs = remaining_jobs(plan(spec, logger)[1], tracker)
    if not jobs:
        return None
    every = [seconds for trial in logger.trials.values() for seconds in epoch_seconds(trial.history)]
    fallback = sum(every) / len(every) if every else 0.0
    seconds = []
    for job in jobs:
        own = epoch_seconds(logger.trials[job.config_of].history)
        seconds.append(sum(own) / len(own) if own else fallback)
    return budget.reevaluation_skip_reason(spec.train.epochs, seconds, spec.search.max_concurrent)
