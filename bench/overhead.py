"""Platform overhead: a search against the same trials trained by a plain loop.

    python bench/overhead.py [spaces/rnn_units.yaml]

1. Runs the space as a user does (`python -m search.run SPACE`) and times it end to end.
2. Reads back from MLflow every trial's config and the epochs it actually ran (ASHA and
   early stopping cut some short).
3. Trains exactly those trials, for exactly those epochs, in a plain loop: a pool of
   processes as wide as the search's max_concurrent, one torch thread per CPU share,
   each process loading the data itself once, no Ray, no MLflow, no checkpoints.
4. Prints the wall-time ratio search / plain loop (target at most 1.10) and records it
   in bench/results.json as overhead_ratio.

Both sides are timed as whole commands (interpreter start, imports, data loading
included), in the same run, so the ratio holds on a noisy machine.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import record  # noqa: E402


def run_search(space: str, folder: Path, extra: list[str]) -> tuple[float, str]:
    uri = f"sqlite:///{folder}/mlflow.db"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "search.run", str(Path(space).resolve()), "--tracking-uri", uri,
                    "--storage", str(folder / "ray_results"), *extra],
                   cwd=folder, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started, uri


def trials_of(uri: str) -> tuple[list[dict], dict]:
    from mlflow.tracking import MlflowClient

    from search.dotted import unflatten

    client = MlflowClient(tracking_uri=uri)
    search = client.search_runs(
        [e.experiment_id for e in client.search_experiments()], "tags.`search.role` = 'search'")[0]
    runs = client.search_runs([search.info.experiment_id],
                              f"tags.`mlflow.parentRunId` = '{search.info.run_id}'", max_results=1000)
    trials = []
    for run in runs:
        config = unflatten({k: v for k, v in run.data.params.items() if k != "model_params"})
        config["train"]["epochs"] = len(client.get_metric_history(run.info.run_id, "val_loss"))
        config["train"]["patience"] = None  # run exactly the epochs the search ran
        trials.append({"config": config, "train_time_s": sum(
            m.value for m in client.get_metric_history(run.info.run_id, "epoch_time_s"))})
    return trials, search.data.params


def plain_trial(job: dict) -> float:
    """One trial, no platform: load, build, train its epochs (the same code the trainable runs)."""
    import torch
    from search.data import get_task

    from search.training import Trial

    torch.set_num_threads(job["threads"])
    task = get_task(job["task"])
    options = task.Options(**job["config"]["data"])
    trial = Trial(task, task.splits(task.load(options), options), job["config"])
    return sum(metrics["epoch_time_s"] for metrics in trial.epochs())


def run_plain(trials: list[dict], task: str, workers: int, threads: int) -> tuple[float, float]:
    """Wall time of the whole loop, and the summed epoch times of its trials."""
    jobs = [{"config": t["config"], "task": task, "threads": threads} for t in trials]
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        epoch_times = pool.map(plain_trial, jobs, chunksize=1)
    return time.perf_counter() - started, sum(epoch_times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("space", nargs="?", default="spaces/rnn_units.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        search_wall, uri = run_search(args.space, folder, sum((["--set", s] for s in args.set), []))
        trials, params = trials_of(uri)
    workers = int(params["search.max_concurrent"])
    threads = max(1, int(float(params["search.resources.cpu"])))
    plain_wall, plain_epochs_s = run_plain(trials, params["task"], workers, threads)
    search_epochs_s = sum(t["train_time_s"] for t in trials)
    epochs = sum(t["config"]["train"]["epochs"] for t in trials)
    figures = {
        "overhead_ratio": round(search_wall / plain_wall, 3),
        "search_wall_s": round(search_wall, 1), "plain_loop_wall_s": round(plain_wall, 1),
        # The same epochs' own training time on each side: what Ray does to the training itself.
        "epoch_time_ratio": round(search_epochs_s / plain_epochs_s, 3),
        "search_epochs_s": round(search_epochs_s, 1), "plain_epochs_s": round(plain_epochs_s, 1),
        "trials": len(trials), "trial_epochs": epochs, "space": args.space, "overrides": args.set,
        "parallelism": workers, "threads_per_trial": threads,
    }
    record("overhead", figures)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
