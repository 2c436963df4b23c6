"""The comparison's tables, as the report laid them out, from runs read back from MLflow.

Two shapes of each table: a numeric one (CSV: one column per number, ranges as
*_low/*_high) and a display one (Markdown/HTML: a range is one "low–high" cell).
Every number comes from the runs' logged metrics; nothing is recomputed.
"""

from __future__ import annotations

import pandas as pd

from search import record
from search.compare.store import SearchRecord, TrialRecord
from search.tracking.summary import display_table, mean_std, plus_minus
from search.tuning.yardsticks import against_yardsticks, headline_metric, yardsticks_on

# The per-epoch metrics shown as low–high over a trial's epochs, by task kind.
RANGES = {
    "classification": ("train_acc", "val_acc", "train_loss", "val_loss"),
    "regression": ("train_loss", "val_loss", "val_mae"),
}
DEFAULT_RANGES = ("train_loss", "val_loss")


# --- values -----------------------------------------------------------------------------
def canonical(value):
    """A param as a comparable value: MLflow keeps params as text ("0.001", "False", "None"),
    spec.yaml may spell the same value differently ("1e-3", false, null)."""
    if isinstance(value, str):
        text = value.strip()
        if text in ("null", "~", ""):
            return None
        if text in ("true", "false"):
            return text == "true"
        value = record.read_param(text)
        if isinstance(value, str):
            try:
                return float(value)  # "nan", "inf": no Python literal, still a number
            except ValueError:
                return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value


def short(value) -> str:
    """A param for a table cell: 0.007750644796341917 -> 0.00775, "64" -> 64."""
    value = canonical(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.3g}"
    return str(value)


# --- what a trial changed -----------------------------------------------------------------
def changed_keys(search: SearchRecord, trial: TrialRecord) -> dict[str, str]:
    """The searched keys where this trial's config differs from the space's base config."""
    base = search.base or {}
    changed = {}
    for key in search.space:
        value = trial.params.get(key)
        if value is None:
            continue
        if key not in base or canonical(base[key]) != canonical(value):
            changed[key] = value
    return changed


def describe_change(search: SearchRecord, trial: TrialRecord) -> str:
    changed = changed_keys(search, trial)
    if not changed:
        return "base config"
    return ", ".join(f"{key}={short(value)}" for key, value in changed.items())


def settings_as_run(search: SearchRecord) -> dict[str, tuple[str, str]]:
    """Keys outside the space where every trial ran with another value than spec.yaml says.

    These belong to the whole search, not to one trial (--smoke shrinks train.epochs,
    for instance), so they are said once per search instead of in every row.
    """
    if not search.base or not search.trials:
        return {}
    params = search.trials[0].params
    return {key: (params[key], search.base[key]) for key in search.base
            if key not in search.space and key in params
            and canonical(params[key]) != canonical(search.base[key])}


# --- one search: a row per trial -----------------------------------------------------------
def trials_table(search: SearchRecord) -> pd.DataFrame:
    """One row per trial, best first: change, metric ranges, epochs, ending, epoch time, test."""
    ranges = RANGES.get(search.kind, DEFAULT_RANGES)
    tests = record.TEST_METRICS.get(search.kind, ("test_loss",))
    rows = []
    for trial in search.ranked_trials():
        is_best = trial.trial_id == search.best_trial_id
        row = {"trial": trial.trial_id, "best": is_best, "change": describe_change(search, trial)}
        for metric in ranges:
            values = trial.values(metric)
            row[f"{metric}_low"] = min(values) if values else None
            row[f"{metric}_high"] = max(values) if values else None
        row[f"best_{search.metric}"] = search.selection_value(trial)
        row["epochs"] = trial.epochs
        row["ended"] = trial.status
        row["error"] = trial.error or trial.tags.get(record.VIOLATED, "")  # why it failed, or broke a limit
        times = trial.values("epoch_time_s")
        row["epoch_time_s"] = sum(times) / len(times) if times else None
        row.update(trial_costs(trial))
        for metric in tests:
            row[metric] = search.metrics.get(metric) if is_best else None
        if search.reevaluations:
            mean, std = mean_std(search.reevaluations.get(trial.trial_id, []))
            row.update(zip(record.mean_and_std(record.reeval_metric(search.metric)), (mean, std)))
        row["run_id"] = trial.run_id
        rows.append(row)
    return pd.DataFrame(rows)


def trial_costs(trial: TrialRecord) -> dict[str, float | None]:
    """What a trial cost, as its run last logged it: the median epoch and the peak memory over
    all its epochs are the values of its last epoch."""
    values = {name: trial.values(name) for name in record.COSTS}
    return {name: found[-1] if found else None for name, found in values.items()}


def display_trials_table(table: pd.DataFrame, search: SearchRecord) -> pd.DataFrame:
    """The numeric table for reading: ranges as one cell, the best trial marked, no run ids."""
    if table.empty:
        return table
    shown = pd.DataFrame({"trial": [f"{t} (best)" if b else t for t, b in zip(table["trial"], table["best"])],
                          "change": table["change"]})
    for metric in RANGES.get(search.kind, DEFAULT_RANGES):
        shown[f"{metric.replace('_', ' ')} (low–high)"] = [
            value_range(low, high) for low, high in zip(table[f"{metric}_low"], table[f"{metric}_high"])]
    shown[f"best {search.metric}"] = table[f"best_{search.metric}"]
    shown["epochs"] = table["epochs"]
    shown["ended"] = [f"{ended}: {error}" if error else ended for ended, error in zip(table["ended"], table["error"])]
    shown["epoch time (s, mean)"] = table["epoch_time_s"]
    for name in record.COSTS:
        if name in table:
            shown[name] = table[name]
    for metric in record.TEST_METRICS.get(search.kind, ("test_loss",)):
        shown[metric] = table[metric]
    mean, std = record.mean_and_std(record.reeval_metric(search.metric))
    if mean in table:
        shown[f"{search.metric} over fresh seeds (mean ± std)"] = [
            plus_minus(m, s) for m, s in zip(table[mean], table[std])]
    return shown


def value_range(low, high) -> str:
    if not record.is_number(low) or not record.is_number(high):
        return ""
    if f"{low:.4g}" == f"{high:.4g}":  # one epoch, or a flat curve
        return f"{low:.4g}"
    return f"{low:.4g}–{high:.4g}"


# --- one search of several objectives: its Pareto front -------------------------------------
def objective_points(search: SearchRecord) -> pd.DataFrame:
    """A row per completed trial with every objective at its best epoch by the search metric
    (the epoch that stands for it, as the search ranked it): trial, objectives, whether it is
    on the front (its run's search.pareto tag) and whether it is the one exported."""
    metrics = [metric for metric, _ in search.objectives]
    rows = []
    for trial in search.trials:
        epoch = search.best_epoch(trial)
        if epoch is None or not record.is_completed(trial.status):
            continue
        values = {metric: trial.value_at(metric, epoch) for metric in metrics}
        if all(value is not None for value in values.values()):
            rows.append({"trial": trial.trial_id, **values, "pareto": trial.pareto,
                         "selected": trial.trial_id == search.best_trial_id, "run_id": trial.run_id})
    return pd.DataFrame(rows, columns=["trial", *metrics, "pareto", "selected", "run_id"])


def pareto_table(search: SearchRecord) -> pd.DataFrame:
    """The front, a row per member by the first objective: its objectives, its test metrics
    (scored once, logged on its run), whether it is the one exported."""
    points = objective_points(search)
    front = points[points["pareto"]].drop(columns="pareto")
    if front.empty:
        return front
    first, mode = search.objectives[0]
    front = front.sort_values([first, "trial"], ascending=[mode == "min", True])
    tests = {t.trial_id: t.test for t in search.trials}
    names = [m for m in record.TEST_METRICS.get(search.kind, ("test_loss",))]
    for name in names:
        front[name] = [tests.get(trial, {}).get(name) for trial in front["trial"]]
    return front[[c for c in front.columns if c != "run_id"] + ["run_id"]].reset_index(drop=True)


# --- across searches: each search's best, by task kind ---------------------------------------
def best_table(searches: list[SearchRecord], kind: str) -> pd.DataFrame:
    """One row per search of this kind: its best config, selection value and test metrics.

    One table per kind, so accuracy and MSE never share a column.
    """
    rows = []
    for search in searches:
        if search.run is None or search.kind != kind:
            continue
        best = best_trial(search)
        if best is None:  # no trial reached a value: its own section says so
            continue
        config = {key: search.params.get(f"{record.BEST_PREFIX}{key}", best.params.get(key))
                  for key in search.space}
        selection = search.metrics.get(record.BEST_SELECTION_VALUE)
        if selection is None:
            selection = search.selection_value(best)
        finished = sum(record.is_completed(t.status) for t in search.trials)
        row = {"experiment": search.experiment, "search_run": search.run.info.run_name,
               "task": search.tags.get(record.TASK, search.params.get(record.TASK_PARAM)),
               "model": search.tags.get(record.MODEL, search.params.get(record.MODEL_NAME_PARAM)),
               "trials": len(search.trials), "trials_completed": finished,
               "best_trial": best.trial_id,
               "best_config": ", ".join(f"{k}={short(v)}" for k, v in config.items() if v is not None),
               "selection_metric": selection_metric(search), "selection_value": selection,
               **per_compute_hour(search, selection)}
        for metric in record.TEST_METRICS[kind]:
            row[metric] = search.metrics.get(metric)
        # Beside the best, its yardsticks on the same test split and the verdict against them
        # (on the re-evaluation winner's mean over seeds where there is one).
        headline = headline_metric(kind)
        row.update({f"{record.BASELINE_PREFIX}{name}_{headline}": value
                    for name, value in yardsticks_on(headline, search.metrics).items()})
        reevaluated = reevaluation_columns(search)
        ours = reevaluated.get(record.mean_and_std(headline)[0])
        what = "re-evaluation mean" if record.is_number(ours) else ""
        ours = ours if record.is_number(ours) else search.metrics.get(headline)
        row["against the yardsticks"] = against_yardsticks(headline, ours, search.metrics, what) or ""
        row.update(reevaluated)
        row["run_id"] = search.run.info.run_id
        rows.append(row)
    table = pd.DataFrame(rows)
    return table[[c for c in table.columns if c != "run_id"] + ["run_id"]] if rows else table


def selection_metric(search: SearchRecord) -> str:
    """How the search picked its best: its metric, or its objectives and the metric that picks
    each trial's epoch (the selection value is the exported member's value of that one)."""
    if search.objectives:
        objectives = ", ".join(f"{metric} ({mode})" for metric, mode in search.objectives)
        return f"Pareto front of {objectives}; {search.metric} ({search.mode})"
    return f"{search.metric} ({search.mode})"


def per_compute_hour(search: SearchRecord, selection) -> dict[str, object]:
    """The best value of the search metric per GPU-hour the search's runs reserved (per CPU-hour
    where it used no GPU): what a search's result cost, comparable across searches."""
    for hours_name, unit in ((record.SEARCH_GPU_HOURS, "GPU-hour"), (record.SEARCH_CPU_HOURS, "CPU-hour")):
        hours = search.metrics.get(hours_name)
        if record.is_number(hours) and hours > 0 and record.is_number(selection):
            return {"best_per_hour": selection / hours, "per": unit}
    return {}


def reevaluation_columns(search: SearchRecord) -> dict[str, object]:
    """The re-evaluation's winner and its figures over seeds, as the search run logged them."""
    winner = search.params.get(record.REEVAL_WINNER_TRIAL_ID)
    if winner is None:
        return {}
    names = [record.reeval_metric(search.metric), *record.TEST_METRICS.get(search.kind, ())]
    columns: dict[str, object] = {"reeval_winner": winner}
    for name in names:
        for stat in record.mean_and_std(name):
            columns[stat] = search.metrics.get(stat)
    return columns


def best_trial(search: SearchRecord) -> TrialRecord | None:
    """The trial the search evaluated (best.trial_id); for an unfinished search, the top-ranked."""
    for trial in search.trials:
        if trial.trial_id == search.best_trial_id:
            return trial
    ranked = [t for t in search.ranked_trials() if search.selection_value(t) is not None]
    return ranked[0] if ranked else None


def display_best_table(table: pd.DataFrame) -> pd.DataFrame:
    """For reading: no run ids, each figure over seeds as one "mean ± std" cell."""
    return display_table(table.drop(columns=["run_id"]) if "run_id" in table else table)
