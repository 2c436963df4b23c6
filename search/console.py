"""What a search prints at its end: the trials, the best, its test figures and where to look."""

from __future__ import annotations

import sys

import pandas as pd

from search.evaluate import Evaluation
from search.spec import Spec
from search.summary import format_float_table
from search.tracking import Tracker


def print_report(spec: Spec, tracker: Tracker, table: pd.DataFrame, evaluation: Evaluation, wall: float,
                 experiment_dir: str) -> None:
    counts = table["status"].value_counts().to_dict() if not table.empty else {}
    print(f"\n[search] {spec.name}: {len(table)} trials in {wall:.0f} s "
          f"({', '.join(f'{n} {s}' for s, n in counts.items())})\n")
    print(format_float_table(table))
    print(f"\nBest trial {evaluation.trial_id} ({spec.search.metric} {evaluation.selection_value:.6g}):")
    for key in spec.space:
        section, _, option = key.partition(".")
        print(f"  {key} = {evaluation.config[section][option]}")
    print("\nTest split (best trial, evaluated once):")
    for key, value in evaluation.test.items():
        print(f"  {key:<16} {value:.6g}")
    if evaluation.baselines:
        print("Yardsticks on the same test split:")
        for key, value in evaluation.baselines.items():
            print(f"  {key:<34} {value:.6g}")
    uri = tracker.uri
    print(f"\nMLflow: experiment {spec.experiment!r}, search run {tracker.run_id}")
    if uri.startswith(("http://", "https://")):
        print(f"  open {tracker.runs_url()}")
    else:
        print(f"  mlflow ui --backend-store-uri {uri} --host 127.0.0.1 --port 5000")
        print(f"  then open {tracker.runs_url()}")
    print(f"Ray Tune results: {experiment_dir}")


def print_no_result(spec: Spec, table: pd.DataFrame) -> None:
    print(format_float_table(table))
    print(f"\n[search] no trial produced a finite {spec.search.metric}; nothing to evaluate.", file=sys.stderr)


def print_interrupted(spec: Spec, ended: int, experiment_dir: str) -> None:
    print(f"\n[search] interrupted after {ended} ended trials; nothing computed is lost.\n"
          f"  resume: python -m search.run {spec.source} --resume {experiment_dir}", file=sys.stderr)
