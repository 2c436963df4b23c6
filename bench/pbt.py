"""Population-based training against ASHA at equal trial-epochs: the re-evaluated winner's mean
test accuracy, both ways.

    python bench/pbt.py spaces/tweets_sentiment.yaml --seeds 0
    python bench/pbt.py spaces/lstm_sentiment.yaml --seeds 0
    python bench/pbt.py spaces/tweets_sentiment.yaml --seeds 0 --smoke   # minutes: proves it runs

For each searcher seed, as a user runs it (`python -m search.run`): first the space as
written (Optuna + ASHA), with `search.reevaluate` as written or {top_k: 3, seeds: 3}; the
trial-epochs it used (every trial run's epochs, read back from MLflow) set the budget.
Then PBT over the same space: random search, `search.scheduler: {name: pbt,
perturbation_interval, quantile}` mutating the space's numeric train.* keys, a population
of round(budget / train.epochs) trials (at least 2), the same re-evaluation, which trains
the winner's schedule again. Figures: each way's re-evaluated winner's mean test accuracy
over its fresh seeds (test_acc_mean on the search run), the trial-epochs each used, the
wall time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from searches import record_unless_smoke, run_space  # noqa: E402

REEVALUATE = {"top_k": 3, "seeds": 3}


def variant(path: Path, folder: Path, pbt: dict | None, population: int | None) -> Path:
    """The space with a re-evaluation (if it has none), and under pbt its scheduler and population."""
    raw = yaml.safe_load(path.read_text())
    search = raw.setdefault("search", {})
    search.setdefault("reevaluate", dict(REEVALUATE))
    if pbt is not None:
        search.update(algorithm="random", num_samples=population, scheduler={"name": "pbt", **pbt})
    out = folder / f"{raw['name']}_{'pbt' if pbt else 'asha'}.yaml"
    out.write_text(yaml.safe_dump(raw, sort_keys=False))
    return out


def search_once(space: Path, folder: Path, seed: int, smoke: bool) -> dict:
    client, search, wall = run_space(space, folder, seed, smoke)
    trials = client.search_runs([search.info.experiment_id], "tags.`search.role` = 'trial'", max_results=10000)
    epochs = sum(len(client.get_metric_history(t.info.run_id, "val_loss")) for t in trials)
    metrics = search.data.metrics
    return {"trials": len(trials), "trial_epochs": epochs, "wall_s": round(wall, 1),
            "reeval_winner": search.data.params.get("reeval_winner_trial_id"),
            "test_acc_mean": metrics.get("test_acc_mean"), "test_acc_std": metrics.get("test_acc_std"),
            "best_trial_test_acc": metrics.get("test_acc"),
            "exploits": sum(t.data.metrics.get("pbt_exploits", 0) for t in trials)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("space", type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--interval", type=int, default=2, help="pbt's perturbation_interval, in epochs")
    parser.add_argument("--quantile", type=float, default=0.25)
    parser.add_argument("--smoke", action="store_true", help="each search at --smoke size: proves the script runs")
    args = parser.parse_args()
    space = args.space.resolve()
    raw = yaml.safe_load(space.read_text())
    epochs = 2 if args.smoke else (raw.get("train") or {}).get("epochs", 10)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for seed in args.seeds:
            asha = search_once(variant(space, folder, None, None), folder / f"asha{seed}", seed, args.smoke)
            population = max(2, round(asha["trial_epochs"] / epochs))
            pbt_settings = {"perturbation_interval": args.interval, "quantile": args.quantile}
            pbt = search_once(variant(space, folder, pbt_settings, population), folder / f"pbt{seed}", seed,
                              args.smoke)
            runs.append({"seed": seed, "asha": asha, "pbt": {**pbt, "population": population, **pbt_settings}})
            print(json.dumps(runs[-1], indent=1), flush=True)

    def median(way: str, key: str):
        values = [r[way][key] for r in runs if r[way][key] is not None]
        return round(statistics.median(values), 4) if values else None

    figures = {"space": raw["name"], "seeds": args.seeds, "smoke": args.smoke,
               "asha_reeval_test_acc_mean": median("asha", "test_acc_mean"),
               "pbt_reeval_test_acc_mean": median("pbt", "test_acc_mean"),
               "asha_trial_epochs": median("asha", "trial_epochs"), "pbt_trial_epochs": median("pbt", "trial_epochs"),
               "runs": runs}
    record_unless_smoke(f"pbt_{raw['name']}", figures, args.smoke)
    return 0


if __name__ == "__main__":
    sys.exit(main())
