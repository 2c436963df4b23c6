"""The end-of-search table: one row per trial, printed and logged as CSV and Markdown."""

from __future__ import annotations

import statistics

import pandas as pd

from search import record
from search.record import Status
from search.space.dotted import sampled_values
from search.space.spec import Spec


def trials_table(spec: Spec, logger, extra: dict[str, dict] | None = None, front=None) -> pd.DataFrame:
    """`extra`: more columns by trial id (the re-evaluation's mean and std over seeds). With several
    objectives, each one at the trial's best epoch (<metric>_at_best) and whether it is on the
    Pareto `front`, whose members come first."""
    rows = []
    for trial_id, trial in logger.trials.items():
        last = trial.history[-1] if trial.history else {}
        row = {"trial": trial_id, **sampled_values(spec, trial.config),
               "epochs": last.get("epoch", 0), "status": trial.status or Status.RUNNING,
               "train_loss": last.get("train_loss"), "val_loss": last.get("val_loss"),
               f"best_{spec.search.metric}": (trial.best or {}).get(spec.search.metric)}
        if spec.search.objectives:
            row.update(objective_columns(spec, trial_id, trial, front))
        if spec.search.constraints:
            row["feasible"] = trial.feasible
            if trial.violated:
                row["violated"] = trial.violated
        row.update((extra or {}).get(trial_id, {}))
        if trial.error is not None:
            row["error"] = trial.error
        rows.append(row)
    table = pd.DataFrame(rows)
    if not table.empty:
        key = f"best_{spec.search.metric}"
        table = table.sort_values(key, ascending=spec.search.mode == "min", na_position="last")
        if "pareto" in table:  # the front first, by its first objective, as front.members are
            order = {trial: i for i, trial in enumerate(front.members if front else [])}
            table = table.sort_values("trial", key=lambda ids: ids.map(lambda t: order.get(t, len(order))),
                                      kind="stable")
    return table.reset_index(drop=True)


def objective_columns(spec: Spec, trial_id: str, trial, front) -> dict:
    row = {"pareto": front is not None and trial_id in front.values}
    for objective in spec.search.objective_list:
        if objective.metric != spec.search.metric:
            row[f"{objective.metric}_at_best"] = (trial.best or {}).get(objective.metric)
    return row


def to_markdown(table: pd.DataFrame, digits: int = 6) -> str:
    """A GitHub-style Markdown table (pandas needs the optional tabulate package for this)."""
    def cell(value) -> str:
        if value is None or (isinstance(value, float) and pd.isna(value)):
            return ""
        return f"{value:.{digits}g}" if isinstance(value, float) else str(value)

    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def format_float_table(table: pd.DataFrame, digits: int = 6) -> str:
    """The table as text; a missing value (a dimension a trial did not search, a metric it never
    reported) is a blank cell, as in the Markdown and CSV forms."""
    with pd.option_context("display.max_columns", None, "display.width", 200,
                           "display.float_format", f"{{:.{digits}g}}".format):
        return table.to_string(index=False, na_rep="")


def mean_std(values: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (n - 1): the spread of a figure over seeds."""
    if not values:
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def plus_minus(mean: float | None, std: float | None, digits: int = 4) -> str:
    """"0.8012 ± 0.0031": a figure over seeds."""
    if not record.is_number(mean):
        return ""
    return f"{mean:.{digits}g} ± {std:.{digits}g}" if record.is_number(std) else f"{mean:.{digits}g}"


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """The table for reading: each <name>_mean, <name>_std pair as one column "<name> (mean ± std)"."""
    shown = table.copy()
    for column in list(shown.columns):
        name = column.removesuffix("_mean")
        if column.endswith("_mean") and f"{name}_std" in shown:
            shown.insert(shown.columns.get_loc(column), f"{name} (mean ± std)",
                         [plus_minus(m, s) for m, s in zip(shown[column], shown[f"{name}_std"])])
            shown = shown.drop(columns=[column, f"{name}_std"])
    return shown
