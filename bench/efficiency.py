"""Search efficiency: an early-stopping scheduler + Optuna against the full grid over the report's values.

    python bench/efficiency.py rnn_units [--scheduler asha|successive_halving] [--seeds 0 1 2]
    python bench/efficiency.py lstm_sentiment [--scheduler asha|successive_halving] [--seeds 0 1 2]

The grid runs every combination of the report's values for its full epochs (no early
stopping of any kind); the scheduler (ASHA by default, with the space's grace period
and reduction factor) + Optuna searches the same values with as many trials as the grid
has, once per searcher seed. Figures, median over seeds: the fraction of the grid's
trial-epochs the search used (<scheduler>_epochs_fraction, target at most 1/4) and the
relative gap between the best validation metrics (<scheduler>_best_rel_gap, positive
when the search did worse; target within 0.01). The targets hold for lstm_sentiment; for
rnn_units they are retired (BENCHMARKS.md: its configurations' 8% spreads are seed noise)
and its figures are reported without one. Every search runs as a user runs it
(`python -m search.run`) and the figures are read back from MLflow. --set KEY=VALUE
(repeatable) changes the searches, not the grid: e.g. search.scheduler.grace_period=1.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from mlflow.tracking import MlflowClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import record  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
# The report's values: Part III's units and optimizers; Part IV's hidden sizes, optimizers
# and learning rates (Change 1 and Change 2).
GRIDS = {
    "rnn_units": {"model.hidden_size": [32, 64, 128], "train.optimizer": ["sgd", "rmsprop", "adam"]},
    "lstm_sentiment": {"model.hidden_size": [64, 128], "train.optimizer": ["adam", "adagrad"],
                       "train.lr": [0.001, 0.01]},
}


def space_override(values: dict[str, list], kind: str) -> str:
    body = ", ".join(f"{key}: {{{kind}: {json.dumps(options)}}}" for key, options in values.items())
    return f"space={{{body}}}"


def run(space: str, folder: Path, overrides: list[str]) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{folder}/mlflow.db"
    command = [sys.executable, "-m", "search.run", str(REPO / "spaces" / f"{space}.yaml"),
               "--tracking-uri", uri, "--storage", str(folder / "ray_results")]
    for item in overrides:
        command += ["--set", item]
    subprocess.run(command, cwd=folder, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(space)
    [search] = client.search_runs([experiment.experiment_id], "tags.`search.role` = 'search'")
    trials = client.search_runs([experiment.experiment_id], "tags.`search.role` = 'trial'", max_results=1000)
    epochs = sum(len(client.get_metric_history(t.info.run_id, "val_loss")) for t in trials)
    return {"trial_epochs": epochs, "best": search.data.metrics["best_selection_value"],
            "metric": search.data.params["search.metric"], "mode": search.data.params["search.mode"],
            "trials": len(trials)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("space", choices=sorted(GRIDS))
    parser.add_argument("--scheduler", choices=["asha", "successive_halving"], default="asha")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                        help="an override for the searches (not the grid)")
    args = parser.parse_args()
    values = GRIDS[args.space]
    size = math.prod(len(v) for v in values.values())

    with tempfile.TemporaryDirectory() as tmp:
        grid = run(args.space, Path(tmp) / "grid", [
            space_override(values, "grid"), "search.algorithm=grid", "search.num_samples=1",
            "search.scheduler.name=none", "train.patience=null"])
        searches = [run(args.space, Path(tmp) / f"{args.scheduler}{seed}", [
            space_override(values, "choice"), "search.algorithm=optuna", f"search.num_samples={size}",
            f"search.scheduler.name={args.scheduler}", f"search.seed={seed}", *args.set])
            for seed in args.seeds]
    sign = 1 if grid["mode"] == "min" else -1
    fractions = [s["trial_epochs"] / grid["trial_epochs"] for s in searches]
    gaps = [sign * (s["best"] - grid["best"]) / abs(grid["best"]) for s in searches]
    figures = {
        f"{args.scheduler}_epochs_fraction": round(statistics.median(fractions), 3),
        f"{args.scheduler}_best_rel_gap": round(statistics.median(gaps), 4),
        "metric": grid["metric"], "grid": {"trials": grid["trials"], "trial_epochs": grid["trial_epochs"],
                                           "best": grid["best"]},
        f"{args.scheduler}_optuna": [{"seed": seed, **s} for seed, s in zip(args.seeds, searches)],
        "overrides": args.set,
    }
    # ASHA's figures keep their earlier name; each other scheduler's go beside them, and a run
    # with --set under a name of its own that is no headline figure.
    name = f"efficiency_{args.space}" + ("" if args.scheduler == "asha" else f"_{args.scheduler}")
    if args.set:
        name += "_" + re.sub(r"[^A-Za-z0-9]+", "_", "_".join(args.set)).strip("_")
    record(name, figures, headline=not args.set)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
