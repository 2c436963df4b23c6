"""The comparison's tables, as the report laid them out, from runs read back from MLflow.

Two shapes of each table: a numeric one (CSV: one column per number, ranges as
*_low/*_high) and a display one (Markdown/HTML: a range is one "low–high" cell).
Every number comes from the runs' logged metrics; nothing is recomputed.
"""

from __future__ import annotations

import pandas as pd

from search import record
from search.compare.store import SearchRecord, TrialRecord

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
        row["error"] = trial.error or ""
        times = trial.values("epoch_time_s")
        row["epoch_time_s"] = sum(times) / len(times) if times else None
        for metric in tests:
            row[metric] = search.metrics.get(metric) if is_best else None
        row["run_id"] = trial.run_id
        rows.append(row)
    return pd.DataFrame(rows)


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
    for metric in record.TEST_METRICS.get(search.kind, ("test_loss",)):
        shown[metric] = table[metric]
    return shown


def value_range(low, high) -> str:
    if not record.is_number(low) or not record.is_number(high):
        return ""
    if f"{low:.4g}" == f"{high:.4g}":  # one epoch, or a flat curve
        return f"{low:.4g}"
    return f"{low:.4g}–{high:.4g}"


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
               "selection_metric": f"{search.metric} ({search.mode})", "selection_value": selection}
        for metric in record.TEST_METRICS[kind]:
            row[metric] = search.metrics.get(metric)
        row["run_id"] = search.run.info.run_id
        rows.append(row)
    return pd.DataFrame(rows)


def best_trial(search: SearchRecord) -> TrialRecord | None:
    """The trial the search evaluated (best.trial_id); for an unfinished search, the top-ranked."""
    for trial in search.trials:
        if trial.trial_id == search.best_trial_id:
            return trial
    ranked = [t for t in search.ranked_trials() if search.selection_value(t) is not None]
    return ranked[0] if ranked else None


def display_best_table(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=["run_id"]) if "run_id" in table else table
