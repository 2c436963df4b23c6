"""The MLflow record of a search: every name a search writes and `search.compare` reads.

The writer (search/tracking/tracker.py, search/tuning/pipeline.py), the reader (search/compare/) and the
tests take the names from here, so the two sides cannot drift apart; the tables of
docs/results.md document them for users (tests/test_record.py holds the two together).
Pure Python, no MLflow or Ray import: the spec's validation and quick readers import it.
"""

from __future__ import annotations

import ast
import json
import math
from typing import Any

# --- tags -------------------------------------------------------------------------------------
ROLE = "search.role"  # what a run is: a value of Role
PARENT = "mlflow.parentRunId"  # MLflow's own nesting tag: a trial run's search run
STATUS = "search.status"  # how a trial ended: a value of Status
ERROR = "search.error"  # why a trial (or a search) failed, one line
TASK, MODEL, KIND = "search.task", "search.model", "search.kind"  # a search run's task, model, task kind
TRIAL_ID = "trial_id"  # a trial run's Ray trial id (also its run name)
RAY_RUN_NAME, RAY_EXPERIMENT_DIR = "ray.run_name", "ray.experiment_dir"  # the Ray Tune result folder
RAY_NODE_ID, DEVICE = "ray.node_id", "device"  # where a trial ran
COMPARED = "search.compared"  # a comparison run's experiments
CONFIG_OF = "search.config_of"  # a re-evaluation run's trial: the one whose config it trains again
# With several objectives: "true" on each trial run of the Pareto front (no other trial run has it).
PARETO = "search.pareto"
# With search.constraints: "true" or "false" on a trial run (judged at its best epoch, or before it
# trained); on a run that broke one, which and by how much (e.g. "params <= 2e+06 (params 3.15405e+06)").
FEASIBLE, VIOLATED = "search.feasible", "search.violated"
BUDGET_SPENT = "search.budget_spent"  # a search run's budget that ran out: a value of Spent
REEVAL_SKIPPED = "search.reevaluation_skipped"  # why a search run's re-evaluation did not run, one line
WARM_START_FROM = "search.warm_start_from"  # a warm-started search run's source: the earlier search run id
# What made a search (search/tracking/capsule.py), tags of its run: the git commit and whether the tree
# had uncommitted changes, of the platform's own folder and, where it is another repository,
# of the folder the search ran from; a hash of the user's shipped modules; versions; the device.
PLATFORM_COMMIT, PLATFORM_DIRTY = "search.platform.commit", "search.platform.dirty"
CODE_COMMIT, CODE_DIRTY = "search.code.commit", "search.code.dirty"
USER_CODE_HASH = "search.user_code.sha256"
VERSION_PREFIX = "search.version."  # search.version.python, .torch, .ray, .mlflow, .optuna, .platform
DEVICE_CPU, DEVICE_GPU = "search.device.cpu", "search.device.gpu"
DEVICE_GPU_COUNT, DEVICE_CUDA = "search.device.gpu_count", "search.device.cuda"
REPRODUCTION_VERDICT = "search.reproduction"  # a reproduction run's verdict, one line
# A registered version's: what it was judged on, and whether it became the champion and why.
TEST_METRIC, TEST_VALUE = "search.test_metric", "search.test_value"
CHAMPION_DECISION = "search.champion_decision"
SPOOL_ID = "search.spool_id"  # a run created from the spool: its spool-local id (search/tracking/spool.py)


class Role:
    """Values of the ROLE tag."""

    SEARCH = "search"
    TRIAL = "trial"
    REEVALUATION = "reevaluation"  # a top configuration trained again on a fresh seed, after the search
    COMPARISON = "comparison"
    REPRODUCTION = "reproduction"  # a trial trained again from its record (search.reproduce)
    REFIT = "refit"  # the winner trained again on train + validation, the model shipped


class Status:
    """Values of the STATUS tag: how a trial ended (RUNNING while it runs)."""

    RUNNING = "running"
    FINISHED = "finished"  # all epochs
    EARLY_STOPPED = "early_stopped"  # patience on val_loss
    ASHA_STOPPED = "asha_stopped"  # ASHA cut it at a rung
    # Successive halving: waiting at a rung for the rest of its bracket; running again past
    # a rung it was paused at; cut at the rung of epoch <n> (a family: stopped_at_rung_2, ...).
    PAUSED = "paused"
    PROMOTED = "promoted"
    STOPPED_AT_RUNG = "stopped_at_rung_"
    FAILED = "failed"
    # Fewer epochs than train.epochs with no early stop, scheduler decision or error: the
    # platform lost its end (search.error says where it ended); not ranked as completed.
    INCOMPLETE = "incomplete"
    INTERRUPTED = "interrupted"  # the search stopped under it; a resume continues it
    INFEASIBLE = "infeasible"  # it broke a limit known before training (params, latency_ms): never trained
    # The search's budget ran out while it ran: stopped at the end of an epoch (or while it
    # waited at a rung), its epochs real results; ranked with the rest.
    BUDGET_STOPPED = "budget_stopped"

    @staticmethod
    def stopped_at_rung(epoch: int) -> str:
        return f"{Status.STOPPED_AT_RUNG}{epoch}"


# The one place that sorts statuses: a new status is added to one of these sets.
# Completed: the trial ran to an end the search ranked (counted by the comparison, fANOVA).
COMPLETED = frozenset({Status.FINISHED, Status.EARLY_STOPPED, Status.ASHA_STOPPED, Status.BUDGET_STOPPED})
COMPLETED_FAMILIES = (Status.STOPPED_AT_RUNG,)  # prefixes of completed statuses
# Ended: the trial will not run again, so a resumed search leaves its run as it is.
ENDED = COMPLETED | {Status.FAILED, Status.INCOMPLETE, Status.INFEASIBLE}
# Live: the trial's run goes on (RUNNING in MLflow); a search interrupted under it marks it interrupted.
LIVE = frozenset({Status.RUNNING, Status.PAUSED, Status.PROMOTED})


class Spent:
    """Values of the BUDGET_SPENT tag: which of search.budget ran out (search/tuning/budget.py)."""

    TIME = "time"
    TRIAL_EPOCHS = "trial_epochs"


def is_completed(status: str | None) -> bool:
    return status in COMPLETED or (isinstance(status, str) and status.startswith(COMPLETED_FAMILIES))


def has_ended(status: str | None) -> bool:
    return status in ENDED or is_completed(status)


# --- metrics ----------------------------------------------------------------------------------
# Per-epoch metrics by task kind (step = epoch, from 1); the ones a search may select on.
EPOCH_METRICS = {
    "regression": ("train_loss", "val_loss", "val_mae", "val_rmse"),
    "classification": ("train_loss", "val_loss", "train_acc", "val_acc", "val_f1"),
}
EPOCH_TIME = "epoch_time_s"
LR = "lr"  # the learning rate an epoch trained with, from trials whose schedule reports it
# Every per-epoch curve a trial run may hold, by task kind: logged when a result has it.
CURVES = {kind: (*names, EPOCH_TIME, LR) for kind, names in EPOCH_METRICS.items()}
ALL_CURVES = tuple(dict.fromkeys(name for names in CURVES.values() for name in names))
# The best trial's best checkpoint on the test split, once, logged on the search run.
TEST_METRICS = {
    "classification": ("test_loss", "test_acc", "test_f1", "test_precision", "test_recall"),
    "regression": ("test_loss", "test_mse", "test_mae", "test_rmse"),
}
BASELINE_PREFIX = "baseline_"  # yardsticks on the same test split
BEST_SELECTION_VALUE = "best_selection_value"
SEARCH_WALL_TIME = "search_wall_time_s"
TRIALS_FAILED = "trials_failed"
# After a search with search.reevaluate, on the search run: reeval_<metric>_mean and _std (the
# winner's search metric over its seeds), test_<m>_mean and _std (the winner's seeds on the
# test split), whether the winner differs from the search's best (1 or 0), and, a param, the
# winner's trial id.
REEVAL_PREFIX = "reeval_"
REEVAL_WINNER_CHANGED = "reeval_winner_changed"
REEVAL_WINNER_TRIAL_ID = "reeval_winner_trial_id"
# What a trial costs, measured in its worker (search/trial/costs.py): ordinary metrics a search may
# select on. params and latency_ms are known before training and logged once, at step 0;
# epoch_seconds (the median epoch so far) and peak_memory_mb (the peak so far) every epoch.
PARAMS, LATENCY_MS = "params", "latency_ms"
EPOCH_SECONDS, PEAK_MEMORY_MB = "epoch_seconds", "peak_memory_mb"
BEFORE_TRAINING_COSTS = (PARAMS, LATENCY_MS)
EPOCH_COSTS = (EPOCH_SECONDS, PEAK_MEMORY_MB)
COSTS = (PARAMS, EPOCH_SECONDS, PEAK_MEMORY_MB, LATENCY_MS)
PARETO_SIZE = "pareto_size"  # a search run's: how many trials its Pareto front holds
# Population-based training, on a trial run each epoch: the exploits it made so far; beside it
# each mutated key's value in force, a metric named by its key (train.weight_decay; lr is `lr`).
PBT_EXPLOITS = "pbt_exploits"
# With search.budget, on the search run: what the search used (the budget given is in the
# params search.budget.time, in seconds, and search.budget.trial_epochs).
BUDGET_TIME_USED = "budget_time_used_s"  # from the first trial's start, every attempt together
BUDGET_EPOCHS_USED = "budget_trial_epochs_used"  # epochs trained, all trials (and re-evaluation runs)
# With search.warm_start, on the search run: the source's trials told to the searcher with their
# results, trained again first (its top_k), and left out, in all and by reason.
WARM_START_PREFIX = "warm_start_"
WARM_START_TOLD = "warm_start_told"
WARM_START_RERUN = "warm_start_rerun"
WARM_START_LEFT_OUT = "warm_start_left_out"


class LeftOut:
    """Why a source trial was not told to a warm-started searcher: warm_start_left_out_<reason>."""

    OUTSIDE_SPACE = "outside_space"  # its configuration is not one the new search could propose
    FAILED = "failed"
    UNFINISHED = "unfinished"  # interrupted, incomplete, or still running
    NO_METRIC = "no_metric"  # no finite value of the search metric

    ALL = (OUTSIDE_SPACE, FAILED, UNFINISHED, NO_METRIC)


def left_out_metric(reason: str) -> str:
    return f"{WARM_START_LEFT_OUT}_{reason}"



# Resource use (search/trial/resource_use.py): a trial's per epoch, its totals at its end, the search's.
TRIAL_CPU_PERCENT, TRIAL_RSS_MB = "trial_cpu_percent", "trial_rss_mb"
TRIAL_GPU_UTIL, TRIAL_GPU_MEMORY_MB = "trial_gpu_util_percent", "trial_gpu_memory_mb"
RESOURCE_CURVES = (TRIAL_CPU_PERCENT, TRIAL_RSS_MB, TRIAL_GPU_UTIL, TRIAL_GPU_MEMORY_MB)
TRIAL_CPU_SECONDS, TRIAL_GPU_SECONDS = "trial_cpu_seconds", "trial_gpu_seconds"
RESOURCE_TOTALS = (TRIAL_CPU_SECONDS, TRIAL_GPU_SECONDS)
SEARCH_CPU_HOURS, SEARCH_GPU_HOURS = "search_cpu_hours", "search_gpu_hours"
# With search.refit: the refit model on the test split (refit_test_acc, ...), on its run and the search run.
REFIT_PREFIX = "refit_"


def mean_and_std(name: str) -> tuple[str, str]:
    """The names of a figure's mean and standard deviation over re-evaluation seeds."""
    return f"{name}_mean", f"{name}_std"


def reeval_metric(metric: str) -> str:
    return f"{REEVAL_PREFIX}{metric}"

# --- params -----------------------------------------------------------------------------------
# A search run's: the search's own settings (search.metric, search.mode, ...) and what it ran.
SETTINGS_PREFIX = "search."
SEARCH_METRIC, SEARCH_MODE = "search.metric", "search.mode"
SEARCH_OBJECTIVES = "search.objectives"  # several objectives: [{'metric': ..., 'mode': ...}, ...]
TASK_PARAM, MODEL_NAME_PARAM, SMOKE_PARAM = "task", "model.name", "smoke"
MODEL_PARAMS = "model_params"  # a trial run's network parameter count
SPACE_PREFIX = "space."  # a search run's searched dimensions: space.<key> = space_param(...)
BEST_PREFIX = "best."  # a search run's best trial: best.trial_id and best.<key>
BEST_TRIAL_ID = "best.trial_id"
COMPARED_RUN_PREFIX = "search_run."  # a comparison run's search runs, by experiment

# --- artifacts --------------------------------------------------------------------------------
SPEC = "spec.yaml"  # the space file as run, with --set overrides
SPEC_RESOLVED = "spec_resolved.yaml"  # every default filled in, --smoke applied
TRIALS_CSV, TRIALS_MD = "trials.csv", "trials.md"
CONFUSION_TEST = "confusion_matrix_test.png"
LEARNING_CURVE = "learning_curve.png"
CONFUSION_VAL = "confusion_matrix_val.png"
BEST_CHECKPOINT = "best_checkpoint"
CONFUSION_TEST_JSON, CONFUSION_VAL_JSON = "confusion_matrix_test.json", "confusion_matrix_val.json"
BEST_MODEL = "best_model"  # a search run's logged MLflow model (also its registered model's source)
PREPROCESSING = "preprocessing.json"  # beside the best model, in its extra_files
ERROR_TEXT = "error.txt"
ARTIFACT_ERROR_TEXT = "artifact_error.txt"
PARETO_CSV = "pareto.csv"  # a search run's Pareto front, a row per member (search.compare writes one too)
PARETO_PNG = "pareto.png"  # search.compare's picture of a search's front
SCHEDULE_CSV = "schedule.csv"  # a pbt trial run's: the lineage of its best checkpoint's weights
PIP_FREEZE = "pip_freeze.txt"  # a search run's installed packages, as `pip freeze` lists them
# Registered model aliases (MLflow's convention): every new version, and the one to deploy.
CHALLENGER, CHAMPION = "challenger", "champion"

COMPARISON_EXPERIMENT = "comparisons"
# The kind of experiment (model training, not GenAI) for MLflow 3's UI (search/tracking/experiments.py).
EXPERIMENT_KIND, TRAINING_EXPERIMENT = "mlflow.experimentKind", "custom_model_development"


# --- values -----------------------------------------------------------------------------------
def is_number(value: Any) -> bool:
    """A value MLflow keeps as a metric point: finite, and not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_param(text: str) -> Any:
    """A param's value from its text. Params are written as str(value) ("0.001", "64",
    "True", "None", "[64, 32]", "adam"), whose inverse is Python's literal syntax; text
    that is no literal (a plain string) is the value itself."""
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def space_param(kind: str, args: list, when: dict | None = None) -> str:
    """A searched dimension as its space.<key> param: the space file's form, as JSON
    (`{"loguniform": [0.0001, 0.01]}`, with its `when` where it has one), which any reader
    parses without this code."""
    written: dict[str, Any] = {kind: list(args)}
    if when:
        written["when"] = when
    return json.dumps(written, default=str)


def read_space_when(text: str) -> dict[str, list]:
    """The `when` of a space.<key> param ({} for a dimension searched in every trial)."""
    try:
        value = json.loads(text)
    except (ValueError, TypeError):
        return {}
    when = value.get("when") if isinstance(value, dict) else None
    return when if isinstance(when, dict) else {}


def read_space_param(text: str) -> tuple[str, list]:
    """(kind, args) of a space.<key> param; ("unknown", []) when it cannot be read (cut short).
    A conditional dimension's `when` is left out: its trial runs have the key only where it
    was active."""
    try:
        value = json.loads(text)
        if isinstance(value, dict):
            value.pop("when", None)
        if isinstance(value, dict) and len(value) == 1:
            [(kind, args)] = value.items()
            return kind, list(args)
    except (ValueError, TypeError):
        pass
    # Searches before the JSON form logged "loguniform [0.0001, 0.01]", Python's repr of the list.
    kind, _, args = text.partition(" ")
    try:
        return kind, list(ast.literal_eval(args))
    except (ValueError, SyntaxError, TypeError):
        return "unknown", []


# --- reading the record back --------------------------------------------------------------------
PAGE = 1000  # search_runs page size (a server caps it; sqlite would take more)


def all_runs(client, experiment_ids: list[str], filter_string: str, order_by: list[str] | None = None) -> list:
    """Every run that matches, page after page (MlflowClient.search_runs returns one page)."""
    runs, token = [], None
    while True:
        page = client.search_runs(experiment_ids, filter_string, max_results=PAGE,
                                  order_by=order_by, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def trial_runs_filter(search_run_id: str, role: str = Role.TRIAL) -> str:
    """A search run's nested runs of one role: its trials, or its re-evaluation runs."""
    return f"tags.`{PARENT}` = '{search_run_id}' and tags.`{ROLE}` = '{role}'"


def metric_history(client, run_id: str, metric: str) -> list[tuple[int, float]]:
    """One (epoch, value) per epoch, epochs ascending.

    A step logged twice (a retried trial before its resumed logger knew the step) keeps
    the later value: that epoch's run is the one the following epochs continued from.
    """
    by_step = {}
    for entry in sorted(client.get_metric_history(run_id, metric), key=lambda m: m.timestamp):
        by_step[entry.step] = entry.value
    return sorted(by_step.items())
