"""The end-of-search table: one row per trial, printed and logged as CSV and Markdown."""

from __future__ import annotations

import pandas as pd

from search.dotted import sampled_values
from search.record import Status
from search.spec import Spec


def trials_table(spec: Spec, logger) -> pd.DataFrame:
    rows = []
    for trial_id, trial in logger.trials.items():
        last = trial.history[-1] if trial.history else {}
        row = {"trial": trial_id, **sampled_values(spec, trial.config),
               "epochs": last.get("epoch", 0), "status": trial.status or Status.RUNNING,
               "train_loss": last.get("train_loss"), "val_loss": last.get("val_loss"),
               f"best_{spec.search.metric}": (trial.best or {}).get(spec.search.metric)}
        if trial.error is not None:
            row["error"] = trial.error
        rows.append(row)
    table = pd.DataFrame(rows)
    if not table.empty:
        key = f"best_{spec.search.metric}"
        table = table.sort_values(key, ascending=spec.search.mode == "min", na_position="last")
    return table.reset_index(drop=True)


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub-style Markdown table (pandas needs the optional tabulate package for this)."""
    def cell(value) -> str:
        if value is None or (isinstance(value, float) and pd.isna(value)):
            return ""
        return f"{value:.6g}" if isinstance(value, float) else str(value)

    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def format_float_table(table: pd.DataFrame) -> str:
    with pd.option_context("display.max_columns", None, "display.width", 200,
                           "display.float_format", "{:.6g}".format):
        return table.to_string(index=False)
