"""MLflow from the driver: one search run per invocation, one nested run per trial.

Why not Ray's MLflowLoggerCallback: it makes flat runs with no parent and marks
trials that ASHA stopped as FINISHED like the ones that ran to the end. Here the
driver is the only writer (workers never talk to MLflow), each trial's run is a
child of the search run, and `search.status` says how each trial ended.
"""

from __future__ import annotations

import os
import time
import traceback
import weakref
from dataclasses import dataclass, field
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from ray import tune
from ray.tune.experiment import Trial

from search import record
from search.errors import SpecError
from search.record import Role, Status
from search.space import conditions
from search.space.constraints import INFEASIBLE_RESULT, broken, parse_constraints
from search.space.dotted import flatten, unflatten
from search.space.mutations import mutation_keys
from search.space.spec import Spec
from search.tracking.experiments import UI_TRAINING_VIEW, experiment_for_runs
from search.tracking.lineage import SEARCH_CONTEXT, TRIAL_CONTEXT, DataIdentity, log_data_input
from search.tracking.plots import SAVE_KWARGS, confusion_matrix_figure, learning_curve_figure
from search.tracking.record_writer import SpooledClient
from search.tuning.pbt_schedule import LINEAGE, config_params, lineage_at, schedule_csv

# Result keys kept in a trial's history besides its curves: for its status and pictures, and
# under pbt the lineage of its weights (schedule.csv).
KEPT_RESULT_KEYS = ("epoch", "early_stopped", "val_confusion", *record.RESOURCE_TOTALS, LINEAGE)
# Logged every epoch: the curves, and what the trial's process used (search/trial/resource_use.py).
EPOCH_METRICS_LOGGED = (*record.ALL_CURVES, *record.RESOURCE_CURVES)


class Tracker:
    """The search run: created before the trials, ended after the evaluation."""

    def __init__(self, spec: Spec, uri: str, run_id: str | None = None, data: DataIdentity | None = None,
                 spool: str | None = None):
        self.spec, self.uri = spec, uri
        self.data = data  # the search's data (search/tracking/lineage.py), an input of its run and every trial run
        # With a spool folder, every write goes through it and one background writer, so that
        # nothing waits for MLflow (search/tracking/record_writer.py); without, straight to MLflow.
        self.client = SpooledClient(uri, spool) if spool else MlflowClient(tracking_uri=uri)
        self.experiment_id = experiment_for_runs(self.client, spec.experiment, {record.TASK: spec.task})
        self.run_id = run_id  # the search run, once started (or the one a resume continues)

    def start_search(self, spec_text: str, params: dict[str, Any], tags: dict[str, str]) -> str:
        run = self.client.create_run(
            self.experiment_id, run_name=f"{self.spec.name} {time.strftime('%Y-%m-%d %H:%M:%S')}",
            tags={record.ROLE: Role.SEARCH, record.TASK: self.spec.task, record.MODEL: self.spec.model["name"],
                  record.KIND: self.spec.kind, **tags})
        # Its id names the search everywhere (search_run.json, the result): waited for, before any trial.
        self.run_id = self.client.real_id(run.info.run_id) if isinstance(self.client, SpooledClient) \
            else run.info.run_id
        log_params(self.client, self.run_id, params)
        if self.data is not None:
            log_data_input(self.client, self.run_id, self.data, SEARCH_CONTEXT)
        self.client.log_text(self.run_id, spec_text, record.SPEC)
        return self.run_id

    def log_metrics(self, metrics: dict[str, float], run_id: str | None = None) -> None:
        now = int(time.time() * 1000)
        self.client.log_batch(run_id or self.run_id,
                              metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items() if record.is_number(v)])

    def log_figure(self, figure, artifact_file: str, run_id: str | None = None) -> None:
        log_figure(self.client, run_id or self.run_id, figure, artifact_file)

    def log_confusion(self, matrix: list[list[int]], class_names: list[str], title: str, png_file: str,
                      run_id: str | None = None) -> None:
        """The matrix as a picture to look at, and beside it as JSON (class names, counts) for
        programs to read."""
        run_id = run_id or self.run_id
        self.log_figure(confusion_matrix_figure(matrix, class_names, title), png_file, run_id)
        self.client.log_dict(run_id, {"classes": list(class_names), "rows": "true", "columns": "predicted",
                                      "matrix": matrix}, png_file.removesuffix(".png") + ".json")  # CONFUSION_*_JSON

    def reopen_search(self) -> None:
        """A resumed search continues its own search run, not a second one."""
        self.client.update_run(self.run_id, status="RUNNING")

    def end_search(self, status: str = "FINISHED") -> None:
        if self.run_id:
            self.client.set_terminated(self.run_id, status=status)

    def finish_record(self, wait_s: float) -> int:
        """Waits up to `wait_s` seconds for MLflow to hold the whole record, then stops the
        writer; returns how many writes still wait in the spool (0 without one)."""
        if not isinstance(self.client, SpooledClient):
            return 0
        try:
            self.client.wait_until_written(wait_s)
        except KeyboardInterrupt:  # Ctrl-C ends the wait; what is not written stays in the spool
            pass
        pending = self.client.pending
        self.client.close()
        return pending

    def runs_url(self, server: str = "http://127.0.0.1:5000") -> str:
        """The experiment's training runs in MLflow's UI. MLflow 3.17's UI opens an experiment
        on its GenAI overview unless its "Model training" switch is on; the link turns it on."""
        base = self.uri if self.uri.startswith(("http://", "https://")) else server
        return f"{base.rstrip('/')}/#/experiments/{self.experiment_id}?{UI_TRAINING_VIEW}"


@dataclass
class TrialRun:
    """What the logger knows of one trial: its MLflow run and how the trial went."""

    run_id: str
    config: dict[str, Any]
    history: list[dict] = field(default_factory=list)  # a row per epoch: curves and KEPT_RESULT_KEYS
    best: dict | None = None  # the history row of its best epoch by the search metric
    best_checkpoint: str | None = None  # that epoch's checkpoint folder
    status: str | None = None  # a Status once it ended (or was interrupted); None while it runs
    error: str | None = None  # why it failed, one line
    node: str | None = None  # the Ray node it last reported from
    # Its scheduler stopped it at a result (Tune marks that result done): an end short of
    # train.epochs that a scheduler decided (see on_trial_complete for the other way).
    stopped_by_scheduler: bool = False
    # With search.constraints: whether it kept them (None until judged) and which it broke.
    feasible: bool | None = None
    violated: str | None = None


# The trial loggers of this driver, by search run id and role (see TrialLogger.__reduce__).
_LOGGERS: weakref.WeakValueDictionary[tuple[str, str], TrialLogger] = weakref.WeakValueDictionary()


def _logger_of_search_run(search_run_id: str, role: str = Role.TRIAL) -> TrialLogger:
    logger = _LOGGERS.get((search_run_id, role))
    if logger is None:
        raise SpecError(f"the MLflow trial logger of search run {search_run_id} runs only in the driver of "
                        "that search (not in a Ray Client session, nor in a Tune experiment restored by hand); "
                        "resume a search with python -m search.run SPACE --resume")
    logger.restored_by_tune = True
    return logger


class TrialLogger(tune.Callback):
    """Ray Tune callback, in the driver: a nested MLflow run per trial, metrics every epoch.

    On resume the logger learns the trials so far from MLflow (adopt_existing_runs), not
    from Tune's saved callback state (get_state/set_state): Tune saves that state only
    every so often, so it can lag the epochs MLflow already has, and the trials would log
    those again. MLflow is the record; the logger reads it back.
    """

    role = Role.TRIAL  # the ROLE tag of the runs it makes

    def __init__(self, tracker: Tracker, spec: Spec, class_names: list[str] | None = None):
        self.tracker, self.client, self.spec = tracker, tracker.client, spec
        self.class_names = class_names
        self.metric, self.mode = spec.search.metric, spec.search.mode
        self.constraints = parse_constraints(spec.search.constraints)
        self.pbt = spec.search.scheduler.name == "pbt"
        # Under pbt, each epoch's value of the mutated keys (lr is already a curve) and the exploits.
        self.pbt_metrics = [*(k for k in mutation_keys(spec) if k != "train.lr"), record.PBT_EXPLOITS] \
            if self.pbt else []
        self.trials: dict[str, TrialRun] = {}
        # Set at the end of the Tune loop: trials that did not finish (an interrupt).
        self.unfinished: list[str] = []
        self.trials_created = 0
        self.restored_by_tune = False  # set when a restored Tuner resolved to this logger
        self.budget = None  # the search's Budget (search/tuning/budget.py), when it has one
        _LOGGERS[(tracker.run_id, self.role)] = self

    def __reduce__(self):
        # Tune pickles a run's callbacks into its experiment folder, and Tuner.restore hands
        # back those copies, with no public way to give it the resuming driver's own
        # (ray-project/ray#41364). So the logger pickles as its search run's id, and a restored
        # Tuner gets the live logger this driver made for that search run (with its MLflow
        # client); unpickled anywhere else, it says how to resume instead.
        return (_logger_of_search_run, (self.tracker.run_id, self.role))

    def adopt_existing_runs(self) -> None:
        """On resume: the search run's trial runs, their histories and how they ended."""
        runs = record.all_runs(self.client, [self.tracker.experiment_id],
                               record.trial_runs_filter(self.tracker.run_id, self.role))
        base = flatten(self.spec.base_config())
        for run in runs:
            # A run holds no value of a dimension its trial did not search (`when:`): the trial
            # trained with the base config's, as the config rebuilt here does.
            trial = self.trials[run.data.tags[record.TRIAL_ID]] = TrialRun(
                run.info.run_id, unflatten({**{k: str(v) for k, v in base.items()}, **run.data.params}),
                history=self._history_from_mlflow(run))
            for row in trial.history:
                self._update_best(trial, row)
            status = run.data.tags.get(record.STATUS)
            if record.has_ended(status):
                trial.status, trial.error = status, run.data.tags.get(record.ERROR)
            if record.FEASIBLE in run.data.tags or status == Status.INFEASIBLE:
                trial.feasible = run.data.tags.get(record.FEASIBLE) == "true"
                trial.violated = run.data.tags.get(record.VIOLATED)

    def _history_from_mlflow(self, run) -> list[dict]:
        rows: dict[int, dict] = {}
        for name in run.data.metrics:
            for step, value in record.metric_history(self.client, run.info.run_id, name):
                rows.setdefault(step, {"epoch": step})[name] = value
        # Step 0 holds what was known before training (params, latency_ms): true of every epoch.
        before = {k: v for k, v in rows.pop(0, {}).items() if k != "epoch"}
        return [{**before, **rows[step]} for step in sorted(rows)]

    # --- Tune hooks -------------------------------------------------------------------------
    def on_trial_start(self, iteration, trials, trial, **info):
        known = self.trials.get(trial.trial_id)
        if known is not None:
            # A retried trial, one a resumed search continues, or one successive halving
            # promoted from a rung it was paused at: it keeps its run.
            if known.status == Status.PAUSED:  # pbt pauses a trial to give another its turn
                self._set_live_status(known, Status.RUNNING if self.pbt else Status.PROMOTED)
            elif known.status in (None, Status.INTERRUPTED):
                known.status = None
                self.client.update_run(known.run_id, status="RUNNING")
                self.client.set_tag(known.run_id, record.STATUS, Status.RUNNING)
            known.config = trial.config
            return
        run = self.client.create_run(
            self.tracker.experiment_id, run_name=trial.trial_id,
            tags={record.ROLE: self.role, record.PARENT: self.tracker.run_id, record.TRIAL_ID: trial.trial_id,
                  record.STATUS: Status.RUNNING, **self.run_tags(trial)})
        self.trials[trial.trial_id] = TrialRun(run.info.run_id, trial.config)
        log_params(self.client, run.info.run_id, trial_params(self.spec, trial.config))
        if self.tracker.data is not None:
            log_data_input(self.client, run.info.run_id, self.tracker.data, TRIAL_CONTEXT)

    def run_tags(self, trial) -> dict[str, str]:
        """Tags a new run gets besides role, parent, trial id and status."""
        return {}

    def on_step_end(self, iteration, trials, **info):
        # Tune has no hook for a pause: successive halving pauses a trial at a rung (after
        # its checkpoint is saved) within a step, so the step's end sees it PAUSED.
        for trial in trials:
            known = self.trials.get(trial.trial_id)
            if trial.status == Trial.PAUSED and known is not None and known.status in (None, Status.PROMOTED):
                self._set_live_status(known, Status.PAUSED)

    def _set_live_status(self, known: TrialRun, status: str) -> None:
        known.status = status
        self.client.set_tag(known.run_id, record.STATUS, status)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        known = self.trials[trial.trial_id]
        if result.get(INFEASIBLE_RESULT):
            self._record_infeasible(known, result)
            return
        if result.get("done"):
            # Tune passes the callbacks a result marked done only when it stops the trial at
            # that result (a function trainable's own end comes as no new result); the
            # platform sets no stop criteria, so the scheduler decided. Noted before the check
            # below: the result that decided may be an epoch reported again.
            known.stopped_by_scheduler = True
        epoch = int(result["epoch"])
        if known.history and epoch <= known.history[-1]["epoch"]:
            # A trial continued from its checkpoint repeats epochs MLflow already has:
            # logging them again would give a metric two values at one step. (Under pbt the
            # repeat brings its weights' lineage, which a history read back from MLflow lacks.)
            if LINEAGE in result and known.history[-1]["epoch"] == epoch:
                known.history[-1].setdefault(LINEAGE, result[LINEAGE])
            return
        row = {key: result[key] for key in (*EPOCH_METRICS_LOGGED, *record.COSTS, *self.pbt_metrics, *KEPT_RESULT_KEYS)
               if key in result}
        row["epoch"] = epoch
        known.history.append(row)
        now = int(time.time() * 1000)
        tags = []
        if result.get("node_id") != known.node:  # first result, or moved node
            known.node = result.get("node_id")
            tags = [RunTag(record.RAY_NODE_ID, str(known.node)), RunTag(record.DEVICE, str(result.get("device")))]
        first = len(known.history) == 1
        metrics = [Metric(name, float(row[name]), now, epoch)
                   for name in (*EPOCH_METRICS_LOGGED, *record.EPOCH_COSTS, *self.pbt_metrics)
                   if record.is_number(row.get(name))]
        if first:  # known before training: once, at step 0
            metrics += before_training_costs(result, now)
        self.client.log_batch(
            known.run_id, metrics=metrics,
            params=[Param(record.MODEL_PARAMS, str(result[record.MODEL_PARAMS]))] if first else [], tags=tags)
        self._update_best(known, row)

    def _update_best(self, trial: TrialRun, row: dict) -> None:
        value = row.get(self.metric)
        if record.is_number(value) and (trial.best is None or _better(value, trial.best[self.metric], self.mode)):
            trial.best = row

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info):
        known = self.trials[trial.trial_id]
        if known.best is not None and known.best["epoch"] == trial.last_result.get("epoch"):
            known.best_checkpoint = checkpoint.path

    def on_trial_complete(self, iteration, trials, trial, **info):
        known = self.trials[trial.trial_id]
        if known.violated is not None and not known.history:  # refused before it trained
            self._end_trial(trial.trial_id, Status.INFEASIBLE, "FINISHED")
            return
        last = known.history[-1] if known.history else {}
        epoch, epochs = last.get("epoch", 0), self.spec.train.epochs
        scheduler = self.spec.search.scheduler.name
        if last.get("early_stopped"):
            status = Status.EARLY_STOPPED
        elif epoch >= epochs:
            status = Status.FINISHED
        elif self.budget is not None and trial.trial_id in self.budget.stopped:
            status = Status.BUDGET_STOPPED  # the budget's stopper decided, before any scheduler
        # A scheduler ends a trial at one of its results, or while the trial waits (successive
        # halving stops trials paused at a rung, and ones a resumed search has yet to restart):
        # Tune calls this hook before it changes a stopped trial's status from PAUSED or PENDING.
        elif scheduler != "none" and (known.stopped_by_scheduler or trial.status in (Trial.PAUSED, Trial.PENDING)):
            status = Status.stopped_at_rung(epoch) if scheduler == "successive_halving" else Status.ASHA_STOPPED
        else:
            # Nothing ended it early, yet epochs are missing: a platform fault, not a result.
            known.error = f"ended after epoch {epoch} of {epochs} with no scheduler decision, early stop or error"
            self.client.set_tag(known.run_id, record.ERROR, known.error)
            self._end_trial(trial.trial_id, Status.INCOMPLETE, "FAILED")
            return
        self._judge_constraints(known)
        self._end_trial(trial.trial_id, status, "FINISHED")

    def _record_infeasible(self, known: TrialRun, result: dict) -> None:
        """A trial its worker did not train: a constraint known before training ruled it out."""
        known.feasible, known.violated = False, str(result[INFEASIBLE_RESULT])
        now = int(time.time() * 1000)
        self.client.log_batch(
            known.run_id, metrics=[*before_training_costs(result, now), *[
                Metric(name, float(result[name]), now, 0) for name in record.EPOCH_COSTS
                if record.is_number(result.get(name))]],
            params=[Param(record.MODEL_PARAMS, str(result[record.MODEL_PARAMS]))],
            tags=[RunTag(record.FEASIBLE, "false"), RunTag(record.VIOLATED, known.violated),
                  RunTag(record.RAY_NODE_ID, str(result.get("node_id"))),
                  RunTag(record.DEVICE, str(result.get("device")))])

    def _judge_constraints(self, known: TrialRun) -> None:
        """The trial's limits, at the epoch that stands for it (its best by the search metric)."""
        if not self.constraints:
            return
        refused = broken(self.constraints, known.best or {})
        known.feasible, known.violated = not refused, "; ".join(refused) or None
        self.client.set_tag(known.run_id, record.FEASIBLE, str(known.feasible).lower())
        if refused:
            self.client.set_tag(known.run_id, record.VIOLATED, known.violated)

    def excluded(self) -> set[str]:
        """Trials that broke a constraint: never the best, on a front, or re-evaluated."""
        return {trial_id for trial_id, trial in self.trials.items() if trial.feasible is False}

    def on_trial_error(self, iteration, trials, trial, **info):
        error = _trial_error_text(trial)
        if trial.trial_id not in self.trials:  # failed before it started
            self.on_trial_start(iteration, trials, trial)
        known = self.trials[trial.trial_id]
        known.error = _one_line_reason(str(error))
        self.client.set_tag(known.run_id, record.ERROR, known.error)
        self.client.log_text(known.run_id, str(error), record.ERROR_TEXT)
        self._end_trial(trial.trial_id, Status.FAILED, "FAILED")

    def on_experiment_end(self, trials, **info):
        budget_spent = self.budget is not None and self.budget.spent_on is not None
        if budget_spent:
            self._end_waiting_trials()
        # Unfinished: not ended by Tune, or not by a trial end this logger heard of. On Ctrl+C,
        # Tune marks the trials it stops TERMINATED without calling on_trial_complete. Once the
        # budget is spent, a trial Tune created but never started is not unfinished: it never
        # had a run, and never will.
        self.unfinished = [t.trial_id for t in trials if (not t.is_finished()
                           or not record.has_ended(getattr(self.trials.get(t.trial_id), "status", None)))
                           and not (budget_spent and t.trial_id not in self.trials)]
        self.trials_created = len(trials)
        known = {t.trial_id for t in trials}
        for trial_id in [t for t in self.trials if t not in known]:
            self._drop_orphan(trial_id)

    def _end_waiting_trials(self) -> None:
        """The budget ran out while these trials waited (paused at a rung, or interrupted before
        and not restarted): Tune ends them without a trial end; their epochs are real results."""
        for trial_id, trial in self.trials.items():
            if trial.status in (Status.PAUSED, Status.INTERRUPTED):
                self._end_trial(trial_id, Status.BUDGET_STOPPED, "FINISHED")

    def _drop_orphan(self, trial_id: str) -> None:
        """A run whose trial Ray's saved state never recorded (the driver died right after
        starting it): the resumed search cannot continue it, so it must not stay RUNNING."""
        orphan = self.trials[trial_id]
        if not orphan.history:
            self.client.delete_run(orphan.run_id)  # it never trained: it stood for nothing
            del self.trials[trial_id]
        elif not record.has_ended(orphan.status):
            self._interrupt(orphan)

    # --- helpers ----------------------------------------------------------------------------
    def _end_trial(self, trial_id: str, status: str, mlflow_status: str) -> None:
        known = self.trials[trial_id]
        known.status = status
        try:
            if known.history:
                self.tracker.log_figure(learning_curve_figure(known.history, f"trial {trial_id}"),
                                        record.LEARNING_CURVE, known.run_id)
            best = known.best
            if best and "val_confusion" in best and self.class_names:
                self.tracker.log_confusion(best["val_confusion"], self.class_names,
                                           f"trial {trial_id}: validation, epoch {best['epoch']}",
                                           record.CONFUSION_VAL, known.run_id)
            if known.best_checkpoint and os.path.isdir(known.best_checkpoint):
                self.client.log_artifacts(known.run_id, known.best_checkpoint, record.BEST_CHECKPOINT)
            lineage = lineage_at(known.history, best) if best else None
            if lineage:
                self.client.log_text(known.run_id, schedule_csv(lineage), record.SCHEDULE_CSV)
        except Exception:  # an artifact must never cost the trial's run its end state
            self.client.log_text(known.run_id, traceback.format_exc(), record.ARTIFACT_ERROR_TEXT)
        finally:
            self._log_totals(known)
            self.client.set_tag(known.run_id, record.STATUS, status)
            self.client.set_terminated(known.run_id, status=mlflow_status)

    def _log_totals(self, known: TrialRun) -> None:
        """The trial's CPU and GPU seconds so far, once, at the step of its last epoch."""
        last = known.history[-1] if known.history else {}
        totals = [Metric(name, float(last[name]), int(time.time() * 1000), int(last["epoch"]))
                  for name in record.RESOURCE_TOTALS if record.is_number(last.get(name))]
        if totals:
            self.client.log_batch(known.run_id, metrics=totals)

    def resource_totals(self) -> list[dict]:
        """Each trial's last result, for the search's CPU and GPU hours."""
        return [trial.history[-1] for trial in self.trials.values() if trial.history]

    def _interrupt(self, trial: TrialRun) -> None:
        self._log_totals(trial)
        trial.status = Status.INTERRUPTED
        self.client.set_tag(trial.run_id, record.STATUS, Status.INTERRUPTED)
        self.client.set_terminated(trial.run_id, status="KILLED")

    def count(self, status: str | None) -> int:
        """How many trials are in `status` (None: still running)."""
        return sum(trial.status == status for trial in self.trials.values())

    def end_unfinished(self) -> None:
        """Ends runs of trials the search left running or paused (interrupt), so none stays RUNNING."""
        for trial in self.trials.values():
            if trial.status is None or trial.status in record.LIVE:
                self._interrupt(trial)


def before_training_costs(result: dict, now: int) -> list[Metric]:
    """The costs a trial knows before it trains, as metrics at step 0."""
    return [Metric(name, float(result[name]), now, 0) for name in record.BEFORE_TRAINING_COSTS
            if record.is_number(result.get(name))]


def trial_params(spec: Spec, config: dict[str, Any]) -> dict[str, Any]:
    """A trial's config as its run's params: every key but the dimensions it did not search
    (`when:`), which trained with the base config's value and are no value of this trial, and
    but pbt's bookkeeping (search/tuning/pbt_schedule.py)."""
    flat = config_params(config)
    inactive = conditions.inactive_keys(spec.space, flat)
    return {key: value for key, value in flat.items() if key not in inactive}


def _better(value: float, best: float, mode: str) -> bool:
    return value < best if mode == "min" else value > best


def _trial_error_text(trial) -> str:
    # Ray writes the error next to the trial locally first; storage gets it on the next sync.
    local = trial.error_file
    if local and os.path.isfile(local):
        with open(local) as handle:
            return handle.read()
    return str(trial.get_error() or "unknown error")


def _one_line_reason(error: str) -> str:
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
    # The last line of a traceback is "ExceptionType: message", the reason a user wants.
    return (lines[-1] if lines else "unknown error")[:500]


def log_params(client: MlflowClient, run_id: str, params: dict[str, Any]) -> None:
    # MlflowClient.log_batch splits what it is given into the batches the store takes, and
    # the store cuts a value longer than MLflow's limit (6000 characters).
    client.log_batch(run_id, params=[Param(key, str(value)) for key, value in params.items()])


def log_figure(client: MlflowClient, run_id: str, figure, artifact_file: str) -> None:
    import matplotlib.pyplot as plt

    try:
        client.log_figure(run_id, figure, artifact_file, save_kwargs=dict(SAVE_KWARGS))
    finally:
        plt.close(figure)
