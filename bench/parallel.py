"""Parallel throughput: two 1-CPU trials against one 2-CPU trial, aggregate samples/s.

    python bench/parallel.py

For the SimpleRNN (rnn_units' base config) and the LSTM (lstm_sentiment's base config),
trains the same number of epochs as two processes with one torch thread each (what two
`cpu: 1` trials get) and as one process with two threads (one `cpu: 2` trial), each
process running the platform's own training loop, and prints the ratio of aggregate
training samples per second, two 1-CPU trials over one 2-CPU trial. Recorded in
bench/results.json as parallel_ratio_rnn and parallel_ratio_lstm.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import record  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CASES = {"rnn": ("spaces/rnn_units.yaml", 2), "lstm": ("spaces/lstm_sentiment.yaml", 1)}


def train(job: dict) -> tuple[int, float]:
    """(training samples seen, seconds of training) for one process: the space's base
    config (with job["overrides"]) for job["epochs"] epochs, on the GPU when
    job["gpu_share"] is above 0, as a trial with that share would run."""
    import torch

    torch.set_num_threads(job["threads"])
    from search.data import get_task

    from search.space.validation import load_spec
    from search.trial.training import Trial

    spec = load_spec(REPO / job["space"], [f"train.epochs={job['epochs']}", "train.patience=null",
                                           "search.scheduler.name=none", *job.get("overrides", [])])
    task = get_task(spec.task)
    options = task.Options(**spec.data)
    splits = task.splits(task.load(options), options)
    trial = Trial(task, splits, spec.base_config(), gpu_share=job.get("gpu_share", 0.0))
    seconds = sum(metrics["epoch_time_s"] for metrics in trial.epochs())
    return len(splits.train[1]) * job["epochs"], seconds


def samples_per_second(space: str, epochs: int, processes: int, threads: int, **job) -> float:
    jobs = [{"space": space, "epochs": epochs, "threads": threads, **job}] * processes
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        results = pool.map(train, jobs)
    # Each process's own training time (process start and data loading left out on both
    # sides); the processes run at once, so the slower one bounds the aggregate.
    return sum(samples for samples, _ in results) / max(seconds for _, seconds in results)


def main() -> int:
    figures = {}
    for name, (space, epochs) in CASES.items():
        two_single = samples_per_second(space, epochs, processes=2, threads=1)
        one_double = samples_per_second(space, epochs, processes=1, threads=2)
        figures[f"parallel_ratio_{name}"] = round(two_single / one_double, 3)
        figures[f"{name}_samples_per_s"] = {"two_1cpu_trials": round(two_single), "one_2cpu_trial": round(one_double)}
        print(name, figures[f"parallel_ratio_{name}"], figures[f"{name}_samples_per_s"], flush=True)
    record("parallel", figures)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
