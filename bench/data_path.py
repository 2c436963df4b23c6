"""Data path: a trial's time from start to its first batch, with the data shared through
the Ray object store (what search.run does) against each trial loading the data itself.

    python bench/data_path.py

For each task's default data (the shipped spaces' base configs), runs Ray tasks that
do what a trial does before training: either take the driver's loaded data from the
object store, or load it themselves; then cut the trial's splits and draw the first
batch. Prints the ratio self-loading / shared (data_path_ratio, above 1 means sharing
saves time) per task, the median of 5 trials each.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import ray

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import record  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SPACES = {"electricity": "rnn_units", "tweets": "lstm_sentiment", "images": "resnet18"}
REPEATS = 5


@ray.remote(num_cpus=1)
def first_batch_seconds(space: str, loaded=None) -> float:
    """Seconds from the trial's start to its first training batch (`loaded` None: load it here)."""
    started = time.perf_counter()
    from search.data import get_task

    from search.space.validation import load_spec

    spec = load_spec(REPO / "spaces" / f"{space}.yaml")
    task = get_task(spec.task)
    options = task.Options(**spec.data)
    if loaded is None:
        loaded = task.load(options)
    splits = task.splits(loaded, options)
    x, y = splits.train
    batch = x[: spec.train.batch_size]
    if splits.batch_transform is not None:
        batch = splits.batch_transform(batch)
    return time.perf_counter() - started


def main() -> int:
    from search.data import get_task

    from search.space.validation import load_spec

    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING")
    figures = {}
    for task_name, space in SPACES.items():
        spec = load_spec(REPO / "spaces" / f"{space}.yaml")
        task = get_task(task_name)
        shared = ray.put(task.load(task.Options(**spec.data)))
        ray.get(first_batch_seconds.remote(space, shared))  # warm the worker: imports on both sides alike
        ray.get(first_batch_seconds.remote(space))
        with_store = [ray.get(first_batch_seconds.remote(space, shared)) for _ in range(REPEATS)]
        self_load = [ray.get(first_batch_seconds.remote(space)) for _ in range(REPEATS)]
        figures[task_name] = {"shared_s": round(statistics.median(with_store), 3),
                              "self_load_s": round(statistics.median(self_load), 3)}
        figures[task_name]["ratio"] = round(figures[task_name]["self_load_s"] / figures[task_name]["shared_s"], 2)
        print(task_name, figures[task_name], flush=True)
    figures["data_path_ratio"] = min(f["ratio"] for f in figures.values())
    record("data_path", figures)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
