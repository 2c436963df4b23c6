"""Platform overhead: a search against the same trials trained by a plain loop.

    python bench/overhead.py [spaces/rnn_units.yaml] [--runs 3] [--set KEY=VALUE ...]

1. Runs the space as a user does (`python -m search.run SPACE`) and times it end to end.
2. Reads back from MLflow every trial's config and the epochs it actually ran (ASHA and
   early stopping cut some short).
3. Trains exactly those trials, for exactly those epochs, in a plain loop: a pool of
   processes as wide as the search's max_concurrent, one torch thread per CPU share,
   each process loading the data itself once, no Ray, no MLflow, no checkpoints.
4. Repeats 1-3 `--runs` times, search and plain loop taking turns, and prints the median
   of each figure: the seconds the search takes over the plain loop (target at most 15;
   the fixed cost of a search, which does not grow with it), the epoch-time ratio (the
   same epochs' own training time, search / plain; target at most 1.05: what running
   under Ray does to training itself), and the wall-time ratio. Records them in
   bench/results.json under `overhead`, each run's figures beside the medians.

Both sides are timed as whole commands (interpreter start, imports, data loading
included), one right after the other, so a figure holds on a noisy machine; the median of
alternating runs keeps one disturbed run from deciding it. `bench/startup.py` says where
the search's seconds go.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
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

    from search.space.dotted import unflatten

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

    from search.trial.training import Trial

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


TARGETS = {"seconds_over_plain": 15.0, "epoch_time_ratio": 1.05}  # at most


def one_run(space: str, overrides: list[str]) -> dict:
    """A search, then the plain loop of the trials it ran: one run's figures."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        search_wall, uri = run_search(space, folder, sum((["--set", s] for s in overrides), []))
        trials, params = trials_of(uri)
    workers = int(params["search.max_concurrent"])
    threads = max(1, int(float(params["search.resources.cpu"])))
    plain_wall, plain_epochs_s = run_plain(trials, params["task"], workers, threads)
    search_epochs_s = sum(t["train_time_s"] for t in trials)
    return {
        "seconds_over_plain": round(search_wall - plain_wall, 1),
        # The same epochs' own training time on each side: what Ray does to the training itself.
        "epoch_time_ratio": round(search_epochs_s / plain_epochs_s, 3),
        "overhead_ratio": round(search_wall / plain_wall, 3),
        "search_wall_s": round(search_wall, 1), "plain_loop_wall_s": round(plain_wall, 1),
        "search_epochs_s": round(search_epochs_s, 1), "plain_epochs_s": round(plain_epochs_s, 1),
        "trials": len(trials), "trial_epochs": sum(t["config"]["train"]["epochs"] for t in trials),
        "parallelism": workers, "threads_per_trial": threads,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("space", nargs="?", default="spaces/rnn_units.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--runs", type=int, default=3, help="search / plain loop pairs, taking turns")
    args = parser.parse_args()

    runs = []
    for number in range(1, args.runs + 1):
        runs.append(one_run(args.space, args.set))
        print(f"run {number}/{args.runs}: {json.dumps(runs[-1])}", flush=True)
    median = {key: statistics.median(run[key] for run in runs)
              for key in ("seconds_over_plain", "epoch_time_ratio", "overhead_ratio", "search_wall_s",
                          "plain_loop_wall_s")}
    figures = {
        **{key: round(value, 3) for key, value in median.items()},
        "targets": {key: f"at most {value}" for key, value in TARGETS.items()},
        "targets_met": {key: median[key] <= value for key, value in TARGETS.items()},
        "runs": runs, "space": args.space, "overrides": args.set,
    }
    record("overhead", figures)
    print(json.dumps({key: value for key, value in figures.items() if key != "runs"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
