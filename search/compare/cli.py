"""`python -m search.compare [EXPERIMENT ...]`: the report's comparison tables and plots,
read back from MLflow, written to a folder and logged as a comparison run.

Per experiment it takes the latest finished search run (a rerun of a space supersedes
the earlier run); --all-runs takes every search run instead.

Exit status: 0 written, 2 bad input (one line on stderr, nothing written).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import pandas as pd
from mlflow.entities import Param

from search import record
from search.cli.cli_args import OneLineParser
from search.cluster.storage import check_writable_folder
from search.compare.importance import param_importances
from search.compare.plots import (
    importance_png,
    learning_curves_png,
    parallel_coordinates_png,
    pareto_png,
    side_by_side_png,
)
from search.compare.report import DIGITS, Report
from search.compare.store import (
    SearchRecord,
    choose_experiments,
    load_searches,
    open_store,
    read_artifact,
)
from search.compare.tables import (
    best_table,
    display_best_table,
    display_trials_table,
    objective_points,
    pareto_table,
    settings_as_run,
    short,
    trials_table,
)
from search.errors import SpecError
from search.record import COMPARISON_EXPERIMENT, Role
from search.tracking.experiments import experiment_for_runs
from search.tracking.summary import format_float_table

KINDS = ("classification", "regression")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineParser(
        prog="python -m search.compare",
        description="Compare searches logged to MLflow: per-trial tables, each search's best, plots.",
        epilog="Example: python -m search.compare rnn_units lstm_sentiment --out comparison",
    )
    parser.add_argument("experiments", nargs="*", metavar="EXPERIMENT",
                        help="MLflow experiments to compare (default: every one that holds search runs)")
    parser.add_argument("--tracking-uri", default="sqlite:///mlflow.db", metavar="URI",
                        help="MLflow tracking URI (default: sqlite:///mlflow.db)")
    parser.add_argument("--out", default="comparison", metavar="DIR",
                        help="folder for comparison.md, comparison.html, CSVs and PNGs (default: ./comparison)")
    parser.add_argument("--top", type=int, default=3, metavar="K",
                        help="learning curves of the K best trials per search (default: 3)")
    parser.add_argument("--all-runs", action="store_true",
                        help="every search run of each experiment, not only the latest finished one")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    # Artifacts are read one small file at a time; a progress bar for each is noise.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        args = parse_args(argv)
        if args.top < 1:
            raise SpecError(f"--top: must be at least 1 (got {args.top})")
        check_writable_folder(args.out, "--out")  # before the store is read, not after
        client = open_store(args.tracking_uri)
        experiments = choose_experiments(client, args.experiments, args.tracking_uri)
    except SpecError as err:
        print(f"error: {err}", file=sys.stderr)
        return SpecError.exit_code

    searches = [s for e in experiments for s in load_searches(client, e, every_run=args.all_runs)]
    report = build_report(client, searches, args)
    out = Path(args.out)
    written = report.write(out)
    run_id = log_comparison(client, searches, out, written, args)

    for search in searches:
        print(f"[compare] {search.experiment}: {describe_choice(search, args.all_runs)}")
    for kind in KINDS:
        table = best_table(searches, kind)
        if not table.empty:
            print(f"\nBest of each search ({kind}):")
            print(format_float_table(display_best_table(table), digits=DIGITS))
    print(f"\nWritten: {out / 'comparison.html'} (self-contained), {out / 'comparison.md'}, "
          f"{len(written) - 2} CSV and PNG files")
    print(f"MLflow: experiment {COMPARISON_EXPERIMENT!r}, comparison run {run_id}")
    return 0


# --- the report ----------------------------------------------------------------------------
def build_report(client, searches: list[SearchRecord], args) -> Report:
    report = Report("Search comparison")
    selection = ("every search run of each experiment" if args.all_runs else
                 "the latest finished search run of each experiment (earlier runs are left out; "
                 "--all-runs shows every one)")
    report.text(f"MLflow store {args.tracking_uri}; compared: {selection}. Made {time.strftime('%Y-%m-%d %H:%M:%S')}.")
    report.table(pd.DataFrame([{"experiment": s.experiment, "compared": describe_choice(s, args.all_runs)}
                               for s in searches]))

    for kind in KINDS:
        numeric = best_table(searches, kind)
        if not numeric.empty:
            report.heading(1, f"Best of each search: {kind}")
            report.text("Selection value: the best trial's best epoch by the search metric (validation). "
                        "Test metrics: that trial's best checkpoint, evaluated once on the test split; "
                        "beside them the yardsticks on the same split (baseline_*) and the verdict against "
                        "them. With a re-evaluation: its winner and mean ± std over the winner's fresh seeds.")
            report.table(display_best_table(numeric), f"best_{kind}.csv", numeric)

    for search, folder in zip(searches, folder_names(searches)):
        add_search_section(report, search, folder, args.top)

    pictures = []
    for search in searches:
        if search.run is not None and search.kind == "classification":
            png = read_artifact(client, search.run.info.run_id, record.CONFUSION_TEST)
            if png:
                pictures.append((f"{search.experiment} (best trial {search.best_trial_id})", png))
    if pictures:
        report.heading(1, "Confusion matrices of the best trials (test split)")
        report.image("confusion_matrices.png", side_by_side_png(pictures), "best trials' test confusion matrices")
    return report


def add_search_section(report: Report, search: SearchRecord, folder: str, top_k: int) -> None:
    report.heading(1, f"{search.experiment}")
    if search.run is None:
        report.text(f"Nothing to compare: {search.note}.")
        return
    info = search.run.info
    facts = [f"search run {info.run_name!r} ({info.run_id}, {info.status})",
             f"task {search.tags.get(record.TASK, '?')}, model {search.tags.get(record.MODEL, '?')}",
             search.kind, f"selection: {search.metric} ({search.mode})", f"{len(search.trials)} trials"]
    if record.read_param(search.params.get(record.SMOKE_PARAM, "False")) is True:
        facts.append("smoke run (a small slice of the data)")
    report.text("; ".join(facts) + ".")
    as_run = settings_as_run(search)
    if as_run:
        report.text("Every trial ran with " + ", ".join(
            f"{key}={short(value)} (spec.yaml: {short(written)})" for key, (value, written) in as_run.items())
            + "; the change column lists only what a trial changed on top of that.")
    if search.note:
        report.text(f"Note: {search.note}.")
    if not search.trials:
        return

    numeric = trials_table(search)
    report.heading(2, "Trials (best first)")
    report.table(display_trials_table(numeric, search), f"{folder}/trials.csv", numeric)

    curves = learning_curves_png(search, top_k)
    if curves:
        report.heading(2, f"Learning curves of the top {top_k}")
        report.image(f"{folder}/learning_curves.png", curves, f"{search.experiment}: learning curves")
    if search.objectives:
        add_front_section(report, search, folder)
    parallel = parallel_coordinates_png(search)
    if parallel:
        report.heading(2, "Searched keys against the selection metric")
        report.image(f"{folder}/parallel_coordinates.png", parallel, f"{search.experiment}: parallel coordinates")

    report.heading(2, "Hyperparameter importance (fANOVA)")
    importances, why_not = param_importances(search)
    if importances is None:
        report.text(f"Not computed: {why_not}.")
        return
    conditional = [key for key in importances.values if key in search.conditions]
    if conditional:
        report.text(f"{', '.join(conditional)}: searched only under a condition (when:), so measured over the "
                    "trials where it was active, in a fit of its own (the trials column).")
    table = pd.DataFrame({"key": list(importances.values), "importance": list(importances.values.values()),
                          "trials": [importances.trials[key] for key in importances.values]})
    report.table(table, f"{folder}/importance.csv")
    labels = {f"{key} ({importances.trials[key]} trials where active)" if key in search.conditions else key: value
              for key, value in importances.values.items()}
    report.image(f"{folder}/importance.png",
                 importance_png(labels, f"{search.experiment}: what moved {search.metric}"),
                 f"{search.experiment}: hyperparameter importance")


def add_front_section(report: Report, search: SearchRecord, folder: str) -> None:
    objectives = ", ".join(f"{metric} ({mode})" for metric, mode in search.objectives)
    report.heading(2, "Pareto front")
    front = pareto_table(search)
    if front.empty:
        report.text(f"Objectives {objectives}: no trial run is tagged {record.PARETO} (the search did not end).")
        return
    report.text(f"Objectives {objectives}, each trial at its best epoch by {search.metric}. The members no other "
                "completed trial dominates, each scored once on the test split; selected: the member exported.")
    report.table(front.drop(columns="run_id"), f"{folder}/{record.PARETO_CSV}", front)
    picture = pareto_png(search, objective_points(search))
    if picture:
        report.image(f"{folder}/{record.PARETO_PNG}", picture, f"{search.experiment}: Pareto front")


def describe_choice(search: SearchRecord, every_run: bool) -> str:
    if search.run is None:
        return search.note or "nothing to compare"
    info = search.run.info
    started = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.start_time / 1000))
    text = f"search run {info.run_name!r} ({info.run_id}, {info.status}, started {started})"
    if not every_run and search.other_runs:
        text += f"; {search.other_runs} other search run(s) left out"
    return text


def folder_names(searches: list[SearchRecord]) -> list[str]:
    """A folder per search: the experiment's name made file-safe, plus the run id if it repeats."""
    names = [re.sub(r"[^A-Za-z0-9_.-]+", "_", s.experiment).strip("._") or "experiment" for s in searches]
    return [name if names.count(name) == 1 or s.run is None else f"{name}-{s.run.info.run_id[:8]}"
            for name, s in zip(names, searches)]


# --- the comparison run in MLflow ------------------------------------------------------------
def log_comparison(client, searches: list[SearchRecord], out: Path, written: list[str], args) -> str:
    """A run in its own experiment, so a comparison is kept and browsable like a search."""
    experiment_id = experiment_for_runs(client, COMPARISON_EXPERIMENT)
    compared = [s for s in searches if s.run is not None]
    run = client.create_run(experiment_id, run_name=f"comparison {time.strftime('%Y-%m-%d %H:%M:%S')}",
                            tags={record.ROLE: Role.COMPARISON,
                                  record.COMPARED: ", ".join(dict.fromkeys(s.experiment for s in searches))})
    run_id = run.info.run_id
    params = {"top_k": args.top, "runs": "all" if args.all_runs else "latest finished",
              "tracking_uri": args.tracking_uri}
    params.update({f"{record.COMPARED_RUN_PREFIX}{name}": s.run.info.run_id
                   for name, s in zip(folder_names(compared), compared)})
    try:
        client.log_batch(run_id, params=[Param(key, str(value)) for key, value in params.items()])
        for relative in written:
            parent = str(Path(relative).parent)
            client.log_artifact(run_id, str(out / relative), None if parent == "." else parent)
    except Exception:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id, status="FINISHED")
    return run_id

