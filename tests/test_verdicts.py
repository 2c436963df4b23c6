"""The re-evaluation's winner rule, the one-line verdict against the yardsticks, and
figures over seeds as "mean ± std": plain functions, no Ray or MLflow."""

from __future__ import annotations

import statistics

import pandas as pd
import pytest

from search.tracking.summary import display_table, mean_std, plus_minus
from search.tuning.reevaluate import Reevaluation, SeedResult, pick_winner
from search.tuning.yardsticks import against_yardsticks, margin, yardsticks_on

FORECAST_BASELINES = {"baseline_persistence_test_mse": 0.000388, "baseline_linear_test_mse": 0.0000834,
                      "baseline_seasonal_naive_test_mse": 0.00531, "baseline_linear_test_mae": 0.06}


def test_the_verdict_names_who_wins_and_by_what_ratio_for_an_error():
    line = against_yardsticks("test_mse", 0.000184, FORECAST_BASELINES, "best trial")
    assert line == ("on test_mse (best trial: 0.000184): beats persistence by 2.11x (0.000388), "
                    "seasonal_naive by 28.9x (0.00531); loses to linear by 2.21x (8.34e-05)")


def test_the_verdict_counts_points_for_an_accuracy():
    baselines = {"baseline_tfidf_test_acc": 0.8071, "baseline_tfidf_test_f1": 0.7353}
    assert against_yardsticks("test_acc", 0.8035, baselines) == \
        "on test_acc (0.8035): loses to tfidf by 0.4 points (0.8071)"
    assert against_yardsticks("test_acc", 0.8152, baselines) == \
        "on test_acc (0.8152): beats tfidf by 0.8 points (0.8071)"
    assert margin("test_acc", 0.8071, 0.80712) == (0, "0 points")
    assert margin("test_mse", 0.0, 0.1) == (1, "0.1")  # no ratio of a zero error


def test_no_yardstick_no_verdict():
    assert yardsticks_on("test_acc", FORECAST_BASELINES) == {}
    assert against_yardsticks("test_acc", 0.8, FORECAST_BASELINES) is None
    assert against_yardsticks("test_mse", None, FORECAST_BASELINES) is None


def seeds(trial_id: str, values: list[float | None]) -> list[SeedResult]:
    return [SeedResult(f"{trial_id}-{seed}", trial_id, seed, "finished" if v is not None else "failed", v)
            for seed, v in enumerate(values, start=1)]


def test_the_winner_is_the_best_mean_over_seeds_not_the_luckiest_seed():
    # The search's best (a) had the luckiest seed; b is better on average.
    outcome = Reevaluation("val_loss", "min", ["a", "b", "c"], seeds={
        "a": seeds("a", [0.10, 0.50, 0.45]), "b": seeds("b", [0.20, 0.25, 0.22]),
        "c": seeds("c", [0.05, None, 0.06])})  # c failed on a seed: behind every complete one
    outcome.winner = pick_winner(outcome)
    assert outcome.winner == "b" and outcome.changed_winner
    outcome.test = {"test_mse": [0.3, 0.2, 0.25]}
    logged = outcome.search_run_metrics()
    assert logged["reeval_val_loss_mean"] == pytest.approx(statistics.fmean([0.20, 0.25, 0.22]))
    assert logged["reeval_val_loss_std"] == pytest.approx(statistics.stdev([0.20, 0.25, 0.22]))
    assert logged["test_mse_mean"] == pytest.approx(0.25) and logged["test_mse_std"] == pytest.approx(0.05)
    assert logged["reeval_winner_changed"] == 1.0
    table = outcome.table()
    assert table.loc[table["winner"], "trial"].tolist() == ["b"]
    assert table.set_index("trial").loc["c", "values"] == [0.05, 0.06]


def test_for_accuracy_the_highest_mean_wins_and_failures_count_only_when_all_failed():
    outcome = Reevaluation("val_acc", "max", ["a", "b"], seeds={
        "a": seeds("a", [0.80, None]), "b": seeds("b", [0.79, None])})
    assert pick_winner(outcome) == "a"  # every configuration failed a seed: best mean of the rest
    outcome.seeds["b"] = seeds("b", [None, None])
    outcome.seeds["a"] = seeds("a", [None, None])
    assert pick_winner(outcome) is None


def test_figures_over_seeds_read_as_mean_plus_minus_std():
    assert mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert mean_std([]) == (None, None) and mean_std([4.0]) == (4.0, None)
    assert plus_minus(0.000345123, 4.1234e-06) == "0.0003451 ± 4.123e-06"
    assert plus_minus(None, None) == ""
    table = pd.DataFrame({"trial": ["a", "b"], "reeval_val_loss_mean": [0.2, None],
                          "reeval_val_loss_std": [0.01, None], "status": ["finished", "finished"]})
    shown = display_table(table)
    assert list(shown.columns) == ["trial", "reeval_val_loss (mean ± std)", "status"]
    assert shown["reeval_val_loss (mean ± std)"].tolist() == ["0.2 ± 0.01", ""]
