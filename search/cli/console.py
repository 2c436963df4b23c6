"""What a search prints at its end: the trials, the best, its test figures and where to look."""

from __future__ import annotations

import sys

import pandas as pd

from search.space.conditions import describe_when, inactive_keys
from search.space.dotted import flatten
from search.space.spec import Spec
from search.tracking.summary import display_table, format_float_table, mean_std, plus_minus
from search.tracking.tracker import Tracker
from search.tuning.evaluate import Evaluation
from search.tuning.front import Front
from search.tuning.reevaluate import Reevaluation
from search.tuning.yardsticks import against_yardsticks, headline_metric


def print_report(spec: Spec, tracker: Tracker, table: pd.DataFrame, evaluation: Evaluation, wall: float,
                 experiment_dir: str, reevaluation: Reevaluation | None = None, budget_use: str | None = None,
                 front: Front | None = None) -> None:
    counts = table["status"].value_counts().to_dict() if not table.empty else {}
    print(f"\n[search] {spec.name}: {len(table)} trials in {wall:.0f} s "
          f"({', '.join(f'{n} {s}' for s, n in counts.items())})" + (f"; {budget_use}" if budget_use else "") + "\n")
    print(format_float_table(display_table(table)))
    if front is not None:
        print_front(spec, front)
    chosen = "Exported member" if front is not None else "Best trial"
    print(f"\n{chosen} {evaluation.trial_id} ({spec.search.metric} {evaluation.selection_value:.6g}):")
    inactive = inactive_keys(spec.space, flatten(evaluation.config))
    for key in spec.space:
        section, _, option = key.partition(".")
        value = evaluation.config[section][option]
        if key in inactive:
            print(f"  {key}: not searched in this trial ({describe_when(spec.space[key].when)} does not hold), "
                  f"trained with the base config's {value}")
        else:
            print(f"  {key} = {value}")
    print("\nTest split (best trial, evaluated once):")
    for key, value in evaluation.test.items():
        print(f"  {key:<16} {value:.6g}")
    headline = headline_metric(spec.kind)
    ours, what = evaluation.test.get(headline), "best trial"
    if reevaluation is not None:
        print_reevaluation(reevaluation)
        if reevaluation.test.get(headline):
            ours = mean_std(reevaluation.test[headline])[0]
            what = f"mean of the winner's {len(reevaluation.test[headline])} seeds"
    if evaluation.baselines:
        print("Yardsticks on the same test split:")
        for key, value in evaluation.baselines.items():
            print(f"  {key:<34} {value:.6g}")
        line = against_yardsticks(headline, ours, evaluation.baselines, what)
        if line:
            print(f"Against the yardsticks, {line}")
    uri = tracker.uri
    print(f"\nMLflow: experiment {spec.experiment!r}, search run {tracker.run_id}")
    if uri.startswith(("http://", "https://")):
        print(f"  open {tracker.runs_url()}")
    else:
        print(f"  mlflow ui --backend-store-uri {uri} --host 127.0.0.1 --port 5000")
        print(f"  then open {tracker.runs_url()}")
    print(f"Ray Tune results: {experiment_dir}")


def print_front(spec: Spec, front: Front) -> None:
    print(f"\nPareto front: {len(front.members)} of the {front.candidates} completed trials that broke no "
          f"constraint, by {front.metrics[0]} (each at its best epoch by {spec.search.metric}; each scored "
          "once on the test split):")
    print(format_float_table(front.table()))
    print(f"Exported: {front.selected.trial_id}, {front.rule} (search.select).")


def print_reevaluation(reevaluation: Reevaluation) -> None:
    seeds = max((len(found) for found in reevaluation.seeds.values()), default=0)
    print(f"\nRe-evaluated: the top {len(reevaluation.ranked)} by {reevaluation.metric}, each trained again "
          f"from scratch on {seeds} fresh seeds ({reevaluation.metric}: mean ± std of each seed's best epoch):")
    for trial_id in reevaluation.ranked:
        mean, std = reevaluation.mean_std(trial_id)
        mark = "  <- winner" if trial_id == reevaluation.winner else ""
        print(f"  {trial_id:<12} {plus_minus(mean, std):<24} seeds {[s.seed for s in reevaluation.seeds[trial_id]]}"
              f"{mark}")
    if reevaluation.winner is None:
        print("No configuration produced a value on its seeds: nothing re-evaluated to report.")
        return
    if reevaluation.changed_winner:
        print(f"The re-run changed the winner: {reevaluation.winner} (the search's best was {reevaluation.ranked[0]}).")
    else:
        print(f"The re-run confirmed the search's best, {reevaluation.winner}.")
    count = len(next(iter(reevaluation.test.values()), []))
    print(f"Test split (winner {reevaluation.winner}, its {count} seeds, mean ± std):")
    for key, values in reevaluation.test.items():
        print(f"  {key:<16} {plus_minus(*mean_std(values))}")


def print_refit(refit_metrics: dict[str, float]) -> None:
    print("\nRefit on train + validation (the model registered), on the test split:")
    for key, value in refit_metrics.items():
        print(f"  {key:<22} {value:.6g}")


def print_no_result(spec: Spec, table: pd.DataFrame) -> None:
    print(format_float_table(table))
    wanted = " and ".join(o.metric for o in spec.search.objective_list)
    kept = "that kept search.constraints " if spec.search.constraints else ""
    print(f"\n[search] no trial {kept}produced a finite {wanted}; nothing to evaluate.", file=sys.stderr)


def print_interrupted(spec: Spec, ended: int, experiment_dir: str) -> None:
    print(f"\n[search] interrupted after {ended} ended trials; nothing computed is lost.\n"
          f"  resume: python -m search.run {spec.source} --resume {experiment_dir}", file=sys.stderr)
