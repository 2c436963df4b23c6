"""Warm starts: how many trials a search needs to come within 1% of a cold search's best.

    python bench/warm_start.py                                  # electricity_forecast, seeds 0 1 2
    python bench/warm_start.py --space rnn_units --trials 12 --top-k 3

Per searcher seed S: a cold search of N trials (--trials; the space's num_samples by
default) with search.seed=S, then two searches warm-started from it (search.warm_start.from
its search run id) with another searcher seed (S + 100): one as a user would run it (the
cold search's --top-k best trained again first, the rest told to Optuna), and one told only
(top_k 0), which measures what telling Optuna's TPE alone is worth. For each search, the
trials it needed (in the order they started) until one's best epoch came within 1% of the
cold search's final best validation metric (the cold search's own count included).
Figures, median over seeds: the trials each needed and warm_start_trials_ratio (the warm
search's median over the cold's; target at most 1/3). A search that never came within 1%
counts as N + 1. The space's search.budget is lifted (search.budget=null): a budget would
cut the searches short of N trials and the counts with them.

Every search runs as a user runs it (`python -m search.run`), into one MLflow store per
seed under --out, and the figures are read back through MLflow's client. --no-record
leaves bench/results.json as it is (for a quick check of the script at a reduced size).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from mlflow.tracking import MlflowClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import record  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
WITHIN = 0.01  # "within 1%" of the cold search's best


def run_search(space: Path, folder: Path, overrides: list[str]) -> str:
    """One search as a user runs it; its search run id."""
    uri = f"sqlite:///{folder}/mlflow.db"
    command = [sys.executable, "-m", "search.run", str(space), "--tracking-uri", uri,
               "--storage", str(folder / "ray_results")] + sum((["--set", item] for item in overrides), [])
    done = subprocess.run(command, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} ended {done.returncode}:\n{done.stderr[-3000:]}")
    client = MlflowClient(tracking_uri=uri)
    return client.search_runs(experiment_ids=[e.experiment_id for e in client.search_experiments()],
                              filter_string="tags.`search.role` = 'search'",
                              order_by=["attributes.start_time DESC"], max_results=1)[0].info.run_id


def trial_values(client: MlflowClient, search_run_id: str, metric: str, mode: str) -> list[float | None]:
    """Each trial's best epoch by the metric, in the order the trials started (None: no value)."""
    search = client.get_run(search_run_id)
    trials = client.search_runs([search.info.experiment_id],
                                f"tags.`mlflow.parentRunId` = '{search_run_id}' and tags.`search.role` = 'trial'",
                                order_by=["attributes.start_time ASC"], max_results=10000)
    values = []
    for trial in trials:
        history = [m.value for m in client.get_metric_history(trial.info.run_id, metric)]
        values.append((min(history) if mode == "min" else max(history)) if history else None)
    return values


def trials_to_reach(values: list[float | None], target: float, mode: str) -> int:
    """How many trials, in start order, until one came within WITHIN of target (len + 1: never)."""
    for count, value in enumerate(values, start=1):
        if value is None:
            continue
        close = value <= target + abs(target) * WITHIN if mode == "min" else value >= target - abs(target) * WITHIN
        if close:
            return count
    return len(values) + 1


def one_seed(space: Path, folder: Path, seed: int, trials: int, top_k: int, overrides: list[str],
             metric: str, mode: str) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    common = [f"search.num_samples={trials}", "search.budget=null", *overrides]
    cold = run_search(space, folder, [f"search.seed={seed}", *common])
    client = MlflowClient(tracking_uri=f"sqlite:///{folder}/mlflow.db")
    cold_values = trial_values(client, cold, metric, mode)
    best = (min if mode == "min" else max)(v for v in cold_values if v is not None)
    found = {"seed": seed, "cold_best": best, "cold": trials_to_reach(cold_values, best, mode)}
    for name, k in (("warm", top_k), ("told_only", 0)):
        warm = run_search(space, folder, [f"search.seed={seed + 100}", *common,
                                          f"search.warm_start={{from: '{cold}', top_k: {k}}}"])
        run = client.get_run(warm)
        found[name] = trials_to_reach(trial_values(client, warm, metric, mode), best, mode)
        found[f"{name}_told"] = int(run.data.metrics.get("warm_start_told", 0))
        found[f"{name}_best"] = run.data.metrics.get("best_selection_value")
    print(json.dumps(found), flush=True)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="electricity_forecast", help="a space in spaces/ (its name)")
    parser.add_argument("--trials", type=int, help="trials per search (default: the space's num_samples)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--top-k", type=int, default=3, help="the warm search's re-runs (search.warm_start.top_k)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an override for every search (repeatable)")
    parser.add_argument("--out", help="where the searches' stores go (default: a temporary folder)")
    parser.add_argument("--no-record", action="store_true", help="leave bench/results.json as it is")
    args = parser.parse_args()
    space = REPO / "spaces" / f"{args.space}.yaml"
    raw = yaml.safe_load(space.read_text())
    search = raw.get("search") or {}
    trials = args.trials or search.get("num_samples", 12)
    metric, mode = search.get("metric", "val_loss"), search.get("mode", "min")

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out).resolve() if args.out else Path(tmp)
        runs = [one_seed(space, out / f"seed{seed}", seed, trials, args.top_k, args.set, metric, mode)
                for seed in args.seeds]
    median = {name: statistics.median(r[name] for r in runs) for name in ("cold", "warm", "told_only")}
    figures = {
        "warm_start_trials_ratio": round(median["warm"] / median["cold"], 3),
        "warm_start_told_only_trials_ratio": round(median["told_only"] / median["cold"], 3),
        "median_trials_to_within_1pct": median, "space": args.space, "trials": trials, "top_k": args.top_k,
        "metric": metric, "mode": mode, "seeds": args.seeds, "runs": runs, "overrides": args.set,
    }
    if not args.no_record:
        record(f"warm_start_{args.space}", figures, headline=not args.set)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
