"""Two objectives against one: does the Pareto front of val_loss and params hold a much smaller
network about as good as the single-objective winner?

    python bench/pareto.py spaces/electricity_forecast.yaml --seeds 0 1 2
    python bench/pareto.py spaces/electricity_forecast.yaml --seeds 0 --smoke   # minutes: proves it runs

For each searcher seed it runs the space twice, as a user runs it (`python -m search.run`):
as written (one objective, its search.metric), and with `search.objectives` val_loss (min)
and params (min) in place of metric/mode (ASHA judging val_loss; everything else as
written). Read back from MLflow: the single search's winner (its best val_loss, its
params) and the two-objective search's front (pareto.csv on its search run). Figures: the
smallest params ratio (member / winner) among front members within 5% of the winner's
val_loss (pareto_params_ratio, target at most 0.25, median over seeds) and whether such a
member exists at a quarter of the parameters (pareto_quarter_within_5pct).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
from pathlib import Path

import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from searches import record_unless_smoke, run_space  # noqa: E402

WITHIN = 0.05  # a front member counts within 5% of the winner's val_loss
QUARTER = 0.25


def two_objective_space(path: Path, folder: Path) -> Path:
    """The space with val_loss and params as objectives in place of its metric and mode."""
    raw = yaml.safe_load(path.read_text())
    search = raw.setdefault("search", {})
    search.pop("metric", None)
    search.pop("mode", None)
    search["objectives"] = [{"metric": "val_loss", "mode": "min"}, {"metric": "params", "mode": "min"}]
    scheduler = search.setdefault("scheduler", {"name": "asha"})
    if scheduler.get("name", "asha") != "none":
        scheduler["metric"] = "val_loss"
    out = folder / f"{raw['name']}_pareto.yaml"
    out.write_text(yaml.safe_dump(raw, sort_keys=False))
    return out


def trial_run(client, search, trial_id: str):
    [found] = client.search_runs([search.info.experiment_id],
                                 f"tags.`mlflow.parentRunId` = '{search.info.run_id}' and tags.trial_id = '{trial_id}'")
    return found


def one_seed(space: Path, folder: Path, seed: int, smoke: bool) -> dict:
    client, single, single_wall = run_space(space, folder / f"single{seed}", seed, smoke)
    winner = trial_run(client, single, single.data.params["best.trial_id"])
    winner_loss, winner_params = single.data.metrics["best_selection_value"], winner.data.metrics["params"]

    client, double, double_wall = run_space(two_objective_space(space, folder), folder / f"pareto{seed}", seed, smoke)
    with tempfile.TemporaryDirectory() as tmp:
        front = pd.read_csv(io.StringIO(Path(client.download_artifacts(
            double.info.run_id, "pareto.csv", tmp)).read_text()), dtype={"trial": str})
    close = front[front["val_loss"] <= winner_loss * (1 + WITHIN)]
    ratio = float(close["params"].min() / winner_params) if len(close) else None
    return {"seed": seed, "winner": {"trial": winner.data.tags["trial_id"], "val_loss": winner_loss,
                                     "params": winner_params, "test_mse": single.data.metrics.get("test_mse")},
            "front": front[["trial", "val_loss", "params", "selected"]].to_dict("records"),
            "params_ratio_within_5pct": ratio, "quarter_within_5pct": ratio is not None and ratio <= QUARTER,
            "wall_s": {"single": round(single_wall, 1), "pareto": round(double_wall, 1)}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("space", type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--smoke", action="store_true", help="each search at --smoke size: proves the script runs")
    args = parser.parse_args()
    name = yaml.safe_load(args.space.read_text())["name"]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            runs.append(one_seed(args.space.resolve(), Path(tmp), seed, args.smoke))
            print(json.dumps(runs[-1], indent=1), flush=True)
    ratios = [r["params_ratio_within_5pct"] for r in runs if r["params_ratio_within_5pct"] is not None]
    figures = {"space": name, "seeds": args.seeds, "smoke": args.smoke,
               "pareto_params_ratio": round(statistics.median(ratios), 4) if ratios else None,
               "pareto_quarter_within_5pct": [r["quarter_within_5pct"] for r in runs], "runs": runs}
    record_unless_smoke(f"pareto_{name}", figures, args.smoke)
    return 0


if __name__ == "__main__":
    sys.exit(main())
