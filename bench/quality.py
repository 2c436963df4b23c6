"""Quality of a shipped space: run its default search for several searcher seeds and
report the best trial's test metrics (median over seeds) with the wall time of each.

    python bench/quality.py spaces/lstm_sentiment.yaml --seeds 0 1 2
    python bench/quality.py spaces/bilstm_sentiment.yaml --set 'search.reevaluate={top_k: 3, seeds: 3}'

Each search runs as a user would run it (`python -m search.run SPACE --set search.seed=S`),
into its own MLflow store under --out; the figures are read back through MLflow's client.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import record  # noqa: E402


def best_of(uri: str, experiment: str) -> dict:
    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    search = client.search_runs([found.experiment_id], "tags.`search.role` = 'search'",
                                order_by=["attributes.start_time DESC"], max_results=1)[0]
    best = {k.removeprefix("best."): v for k, v in search.data.params.items() if k.startswith("best.")}
    return {"metrics": search.data.metrics, "best_config": best, "run_id": search.info.run_id}


# The test and yardstick figures, and the validation figures beside them (the best trial's, and
# with search.reevaluate the winner's mean over fresh seeds), so the val-test gap reads off both.
FIGURES = ("test_", "baseline_", "reeval_", "best_selection_value")


def summarize(space: str, runs: list[dict]) -> dict:
    keys = sorted({k for r in runs for k in r["metrics"] if k.startswith(FIGURES)})
    median = {k: statistics.median(r["metrics"][k] for r in runs) for k in keys}
    return {"space": space, "seeds": [r["seed"] for r in runs], "median": median,
            "wall_s": [r["wall_s"] for r in runs], "runs": runs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("space")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default="bench/runs")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()

    import yaml

    spec = yaml.safe_load(Path(args.space).read_text())
    experiment = (spec.get("tracking") or {}).get("experiment") or spec["name"]
    out = Path(args.out).resolve() / spec["name"]
    out.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{out}/mlflow.db"
    runs = []
    for seed in args.seeds:
        started = time.perf_counter()
        command = [sys.executable, "-m", "search.run", str(Path(args.space).resolve()),
                   "--set", f"search.seed={seed}", "--tracking-uri", uri,
                   "--storage", str(out / "ray_results")] + sum((["--set", s] for s in args.set), [])
        done = subprocess.run(command, cwd=out, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            return done.returncode
        found = best_of(uri, experiment)
        runs.append({"seed": seed, "wall_s": round(wall, 1), **found})
        test = {k: round(v, 5) for k, v in found["metrics"].items() if k.startswith(FIGURES)}
        print(f"seed {seed}: {wall / 60:.1f} min, {test}", flush=True)
        summary = summarize(args.space, runs)
        record(f"quality_{spec['name']}", summary)  # after every seed: a stopped run keeps the rest

    print(json.dumps({"median": summary["median"], "wall_s": summary["wall_s"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
