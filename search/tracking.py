"""MLflow from the driver: one search run per invocation, one nested run per trial.

Why not Ray's MLflowLoggerCallback: it makes flat runs with no parent and marks
trials that ASHA stopped as FINISHED like the ones that ran to the end. Here the
driver is the only writer (workers never talk to MLflow), each trial's run is a
child of the search run, and `search.status` says how each trial ended.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
import traceback
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from ray import tune

from search.dotted import flatten, unflatten
from search.experiments import experiment_for_runs
from search.plots import confusion_matrix_png, learning_curve_png
from search.spec import Spec

ROLE, PARENT = "search.role", "mlflow.parentRunId"
STATUS, ERROR = "search.status", "search.error"
ENDED = ("finished", "early_stopped", "asha_stopped", "failed")
# Result keys that are not per-epoch curves: logged as a param or tag, or kept for pictures.
NOT_CURVES = {"epoch", "val_confusion", "model_params", "early_stopped"}
BATCH = 100  # MLflow takes at most 100 params or 1000 metrics per log_batch call


class Tracker:
    """The search run: created before the trials, ended after the evaluation."""

    def __init__(self, spec: Spec, uri: str):
        self.spec, self.uri = spec, uri
        self.client = MlflowClient(tracking_uri=uri)
        self.experiment_id = experiment_for_runs(self.client, spec.experiment, {"search.task": spec.task})
        self.run_id: str | None = None

    def start_search(self, spec_text: str, params: dict[str, Any], tags: dict[str, str]) -> str:
        run = self.client.create_run(
            self.experiment_id, run_name=f"{self.spec.name} {time.strftime('%Y-%m-%d %H:%M:%S')}",
            tags={ROLE: "search", "search.task": self.spec.task, "search.model": self.spec.model["name"],
                  "search.kind": self.spec.kind, **tags})
        self.run_id = run.info.run_id
        log_params(self.client, self.run_id, params)
        self.client.log_text(self.run_id, spec_text, "spec.yaml")
        return self.run_id

    def log_metrics(self, metrics: dict[str, float], run_id: str | None = None) -> None:
        now = int(time.time() * 1000)
        entries = [Metric(k, float(v), now, 0) for k, v in metrics.items() if _is_number(v)]
        for start in range(0, len(entries), 1000):
            self.client.log_batch(run_id or self.run_id, metrics=entries[start:start + 1000])

    def log_png(self, png: bytes, artifact_file: str, run_id: str | None = None) -> None:
        log_bytes(self.client, run_id or self.run_id, png, artifact_file)

    def log_confusion(self, matrix: list[list[int]], class_names: list[str], title: str, name: str,
                      run_id: str | None = None) -> None:
        """`name`.png to look at, and `name`.json (class names, counts) for programs to read."""
        run_id = run_id or self.run_id
        self.log_png(confusion_matrix_png(matrix, class_names, title), f"{name}.png", run_id)
        self.client.log_dict(run_id, {"classes": list(class_names), "rows": "true", "columns": "predicted",
                                      "matrix": matrix}, f"{name}.json")

    def reopen_search(self, run_id: str) -> None:
        """A resumed search continues its own search run, not a second one."""
        self.run_id = run_id
        self.client.update_run(run_id, status="RUNNING")

    def end_search(self, status: str = "FINISHED") -> None:
        if self.run_id:
            self.client.set_terminated(self.run_id, status=status)

    def runs_url(self, server: str = "http://127.0.0.1:5000") -> str:
        base = self.uri if self.uri.startswith(("http://", "https://")) else server
        return f"{base.rstrip('/')}/#/experiments/{self.experiment_id}/runs"


class TrialLogger(tune.Callback):
    """Ray Tune callback, in the driver: a nested MLflow run per trial, metrics every epoch."""

    def __init__(self, tracker: Tracker, spec: Spec, class_names: list[str] | None = None):
        self.tracker, self.client, self.spec = tracker, tracker.client, spec
        self.class_names = class_names
        self.metric, self.mode = spec.search.metric, spec.search.mode
        self.run_ids: dict[str, str] = {}
        self.history: dict[str, list[dict]] = {}
        self.best: dict[str, dict] = {}  # each trial's best epoch by the search metric
        self.best_checkpoint: dict[str, str] = {}
        self.status: dict[str, str] = {}
        self.errors: dict[str, str] = {}
        self.configs: dict[str, dict] = {}
        self.nodes: dict[str, str] = {}  # the Ray node each trial last reported from

        # Set at the end of the Tune loop: trials that did not finish (an interrupt).
        self.unfinished: list[str] = []
        self.trials_created = 0

    def adopt_existing_runs(self) -> None:
        """On resume: the search run's trial runs, their histories and how they ended."""
        runs = self.client.search_runs(
            [self.tracker.experiment_id],
            f"tags.`{PARENT}` = '{self.tracker.run_id}' and tags.`{ROLE}` = 'trial'", max_results=10_000)
        for run in runs:
            trial_id = run.data.tags["trial_id"]
            self.run_ids[trial_id] = run.info.run_id
            self.configs[trial_id] = unflatten(run.data.params)
            self.history[trial_id] = self._history_from_mlflow(run)
            for row in self.history[trial_id]:
                self._update_best(trial_id, row)
            status = run.data.tags.get(STATUS, "running")
            if status in ENDED:
                self.status[trial_id] = status
                if ERROR in run.data.tags:
                    self.errors[trial_id] = run.data.tags[ERROR]

    def _history_from_mlflow(self, run) -> list[dict]:
        rows: dict[int, dict] = {}
        for name in run.data.metrics:
            for point in self.client.get_metric_history(run.info.run_id, name):
                rows.setdefault(point.step, {"epoch": point.step})[name] = point.value
        return [rows[step] for step in sorted(rows)]

    # --- Tune hooks -------------------------------------------------------------------------
    def on_trial_start(self, iteration, trials, trial, **info):
        if trial.trial_id in self.run_ids:
            # A retried trial, or one a resumed search continues: it keeps its run.
            if self.status.get(trial.trial_id) in (None, "interrupted"):
                self.status.pop(trial.trial_id, None)
                run_id = self.run_ids[trial.trial_id]
                self.client.update_run(run_id, status="RUNNING")
                self.client.set_tag(run_id, STATUS, "running")
            self.configs[trial.trial_id] = trial.config
            return
        run = self.client.create_run(
            self.tracker.experiment_id, run_name=trial.trial_id,
            tags={ROLE: "trial", PARENT: self.tracker.run_id, "trial_id": trial.trial_id,
                  STATUS: "running"})
        self.run_ids[trial.trial_id] = run.info.run_id
        self.history[trial.trial_id] = []
        self.configs[trial.trial_id] = trial.config
        log_params(self.client, run.info.run_id, flatten(trial.config))

    def on_trial_result(self, iteration, trials, trial, result, **info):
        run_id = self.run_ids[trial.trial_id]
        epoch = int(result["epoch"])
        row = {k: v for k, v in result.items() if k in _trial_metric_names(result)}
        row["epoch"] = epoch
        if "val_confusion" in result:
            row["val_confusion"] = result["val_confusion"]
        history = self.history.setdefault(trial.trial_id, [])
        if history and epoch <= history[-1]["epoch"]:
            # A trial continued from its checkpoint repeats epochs MLflow already has:
            # logging them again would give a metric two values at one step.
            return
        history.append(row)
        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, epoch) for k, v in row.items()
                   if k not in NOT_CURVES and _is_number(v)]
        first = len(history) == 1
        tags = []
        if result.get("node_id") != self.nodes.get(trial.trial_id):  # first result, or moved node
            self.nodes[trial.trial_id] = result.get("node_id")
            tags = [RunTag("ray.node_id", str(result.get("node_id"))), RunTag("device", str(result.get("device")))]
        self.client.log_batch(
            run_id, metrics=metrics,
            params=[Param("model_params", str(result["model_params"]))] if first else [], tags=tags)
        self._update_best(trial.trial_id, row)

    def _update_best(self, trial_id: str, row: dict) -> None:
        value = row.get(self.metric)
        best = self.best.get(trial_id)
        if _is_number(value) and (best is None or _better(value, best[self.metric], self.mode)):
            self.best[trial_id] = row

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info):
        best = self.best.get(trial.trial_id)
        if best is not None and best["epoch"] == trial.last_result.get("epoch"):
            self.best_checkpoint[trial.trial_id] = checkpoint.path

    def on_trial_complete(self, iteration, trials, trial, **info):
        last = self.history.get(trial.trial_id) or [{}]
        last = last[-1]
        if last.get("early_stopped"):
            status = "early_stopped"
        elif last.get("epoch", 0) >= self.spec.train.epochs:
            status = "finished"
        else:
            status = "asha_stopped"
        self._end_trial(trial, status, "FINISHED")

    def on_trial_error(self, iteration, trials, trial, **info):
        error = _trial_error_text(trial)
        reason = _one_line_reason(str(error))
        self.errors[trial.trial_id] = reason
        run_id = self.run_ids.get(trial.trial_id)
        if run_id is None:  # failed before it started
            self.on_trial_start(iteration, trials, trial)
            run_id = self.run_ids[trial.trial_id]
        self.client.set_tag(run_id, ERROR, reason)
        self.client.log_text(run_id, str(error), "error.txt")
        self._end_trial(trial, "failed", "FAILED")

    def on_experiment_end(self, trials, **info):
        self.unfinished = [t.trial_id for t in trials if not t.is_finished()]
        self.trials_created = len(trials)
        known = {t.trial_id for t in trials}
        for trial_id in [t for t in self.run_ids if t not in known]:
            self._drop_orphan(trial_id)

    def _drop_orphan(self, trial_id: str) -> None:
        """A run whose trial Ray's saved state never recorded (the driver died right after
        starting it): the resumed search cannot continue it, so it must not stay RUNNING."""
        run_id = self.run_ids.pop(trial_id)
        if not self.history.get(trial_id):
            self.client.delete_run(run_id)  # it never trained: it stood for nothing
            for table in (self.history, self.configs, self.status, self.best):
                table.pop(trial_id, None)
            return
        self.run_ids[trial_id] = run_id
        if self.status.get(trial_id) not in ENDED:
            self.status[trial_id] = "interrupted"
            self.client.set_tag(run_id, STATUS, "interrupted")
            self.client.set_terminated(run_id, status="KILLED")

    # --- helpers ----------------------------------------------------------------------------
    def _end_trial(self, trial, status: str, mlflow_status: str) -> None:
        trial_id = trial.trial_id
        run_id = self.run_ids[trial_id]
        self.status[trial_id] = status
        try:
            history = self.history.get(trial_id, [])
            if history:
                self.tracker.log_png(learning_curve_png(history, f"trial {trial_id}"),
                                     "learning_curve.png", run_id)
            best = self.best.get(trial_id)
            if best and "val_confusion" in best and self.class_names:
                self.tracker.log_confusion(best["val_confusion"], self.class_names,
                                           f"trial {trial_id}: validation, epoch {best['epoch']}",
                                           "confusion_matrix_val", run_id)
            checkpoint = self.best_checkpoint.get(trial_id)
            if checkpoint and os.path.isdir(checkpoint):
                self.client.log_artifacts(run_id, checkpoint, "best_checkpoint")
        except Exception:  # an artifact must never cost the trial's run its end state
            self.client.log_text(run_id, traceback.format_exc(), "artifact_error.txt")
        finally:
            self.client.set_tag(run_id, STATUS, status)
            self.client.set_terminated(run_id, status=mlflow_status)

    def end_unfinished(self, status: str = "KILLED") -> None:
        """Ends runs of trials the search left running (interrupt), so none stays RUNNING."""
        for trial_id, run_id in self.run_ids.items():
            if trial_id not in self.status:
                self.status[trial_id] = "interrupted"
                self.client.set_tag(run_id, STATUS, "interrupted")
                self.client.set_terminated(run_id, status=status)


def _trial_metric_names(result: dict) -> set[str]:
    # The trainable's own metrics; Ray adds bookkeeping keys (time_total_s, pid, ...) we skip.
    own = {"epoch", "train_loss", "val_loss", "train_acc", "val_acc", "val_f1", "val_mae",
           "val_rmse", "epoch_time_s", "model_params", "early_stopped"}
    return own & set(result)


def _better(value: float, best: float, mode: str) -> bool:
    return value < best if mode == "min" else value > best


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


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
    entries = [Param(k, str(v)[:6000]) for k, v in params.items()]
    for start in range(0, len(entries), BATCH):
        client.log_batch(run_id, params=entries[start:start + BATCH])


def log_bytes(client: MlflowClient, run_id: str, content: bytes, artifact_file: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, os.path.basename(artifact_file))
        with open(path, "wb") as handle:
            handle.write(content)
        client.log_artifact(run_id, path, os.path.dirname(artifact_file) or None)
