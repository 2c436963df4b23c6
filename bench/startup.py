"""Where a search's fixed seconds go: one search's phases, from interpreter start to exit.

    python bench/startup.py [spaces/rnn_units.yaml] [--set KEY=VALUE ...] [--smoke] [--runs N] [--record]

Runs the space as `python -m search.run` does, in a process of its own, with timestamps
around each phase (the functions the pipeline calls are wrapped in that process; nothing
in the platform changes), and prints each phase's seconds, the median of `--runs` runs:

- interpreter start and the driver's imports (which of them weigh most: `-X importtime`);
- the checks and the data load, up to Ray's start;
- `ray.init` of the search's own Ray, with the MLflow store opened meanwhile;
- from Ray up to Tune's start (the search run in MLflow, the Tuner);
- Tune's set-up to the first trial's start;
- the first trial's worker: process start, imports, data, up to its first epoch (its
  first report less that epoch's own training time);
- the trials (Tune's fit), the best trial's evaluation, the model's export;
- `ray.shutdown` and the interpreter's exit.

The fixed part is what does not grow with the search: everything but the trials.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import record  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
# The packages whose import the driver pays, shown by `-X importtime` (cumulative seconds).
HEAVY_IMPORTS = ("torch", "sklearn", "scipy.stats", "mlflow", "ray", "ray.tune", "optuna", "pandas",
                 "matplotlib", "pydantic")


def child(space: str, overrides: list[str], smoke: bool, out: str) -> None:
    """In the measured process: wrap the pipeline's steps, run the search, write the stamps."""
    stamps = {"interpreter": time.time()}
    import search.tuning.pipeline as pipeline  # noqa: I001 - the driver's imports, as the command pays them
    import search.tuning.tuner  # noqa: F401
    from ray import tune

    from search.api import run_search
    from search.tracking.tracker import TrialLogger

    stamps["imported"] = time.time()
    firsts: dict = {}

    def timed(owner, name: str, start: str, end: str):
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            stamps.setdefault(start, time.time())
            try:
                return original(*args, **kwargs)
            finally:
                stamps[end] = time.time()
        setattr(owner, name, wrapper)

    def first(owner, name: str, key: str, keep=None):
        original = getattr(owner, name)

        def wrapper(self, *args, **kwargs):
            if key not in firsts:
                firsts[key] = time.time()
                if keep:
                    firsts[f"{key}_detail"] = keep(*args, **kwargs)
            return original(self, *args, **kwargs)
        setattr(owner, name, wrapper)

    import psutil

    driver = psutil.Process()
    timed(pipeline, "start_ray_and_tracking", "ray_start", "ray_up")
    timed(tune.Tuner, "fit", "fit_start", "fit_end")
    original_fit = tune.Tuner.fit

    def fit_with_cpu(self, *args, **kwargs):
        # The driver's own CPU seconds while the trials run: what it takes from them on a
        # machine whose cores the trials fill (Tune's bookkeeping, the MLflow logging).
        before = sum(driver.cpu_times()[:2])
        try:
            return original_fit(self, *args, **kwargs)
        finally:
            stamps["driver_cpu_during_fit"] = sum(driver.cpu_times()[:2]) - before
    tune.Tuner.fit = fit_with_cpu
    timed(pipeline, "evaluate_best", "evaluate_start", "evaluate_end")
    timed(pipeline, "log_best_model", "export_start", "export_end")
    timed(pipeline, "stop_ray", "shutdown_start", "shutdown_end")
    first(TrialLogger, "on_trial_start", "first_trial_start")
    first(TrialLogger, "on_trial_result", "first_result",
          keep=lambda iteration, trials, trial, result, **info: result.get("epoch_time_s"))
    original_start = pipeline.start_search

    def start_search(*args, **kwargs):
        stamps["checks_start"] = time.time()
        return original_start(*args, **kwargs)
    pipeline.start_search = start_search
    result = run_search(space, overrides=overrides, smoke=smoke)
    stamps["search_returned"] = time.time()
    stamps.update(firsts)
    stamps["status"] = result.status
    Path(out).write_text(json.dumps(stamps))


def phases(launched: float, stamps: dict, exited: float) -> dict[str, float]:
    first_epoch = stamps.get("first_result_detail") or 0.0
    return {
        "interpreter start": stamps["interpreter"] - launched,
        "driver imports": stamps["imported"] - stamps["interpreter"],
        "checks and data load": stamps["ray_start"] - stamps["checks_start"],
        "ray.init (store opened meanwhile)": stamps["ray_up"] - stamps["ray_start"],
        "search run and Tuner, up to Tune's fit": stamps["fit_start"] - stamps["ray_up"],
        "Tune's set-up to the first trial's start": stamps["first_trial_start"] - stamps["fit_start"],
        "first trial's worker up to its first epoch": stamps["first_result"] - stamps["first_trial_start"]
        - first_epoch,
        "trials (Tune's fit, all of it)": stamps["fit_end"] - stamps["fit_start"],
        "after the trials, to the evaluation": stamps["evaluate_start"] - stamps["fit_end"],
        "best trial's evaluation and yardsticks": stamps["evaluate_end"] - stamps["evaluate_start"],
        "best model's export and registration": stamps["export_end"] - stamps["export_start"],
        "ray.shutdown": stamps["shutdown_end"] - stamps["shutdown_start"],
        "interpreter exit": exited - stamps["search_returned"],
        "whole command": exited - launched,
        "driver's CPU seconds while the trials ran": stamps["driver_cpu_during_fit"],
    }


def fixed_seconds(measured: dict[str, float]) -> float:
    """Everything but the trials' own time: the command less Tune's fit, plus what of the
    fit is set-up (Tune's, and the first worker's start)."""
    return (measured["whole command"] - measured["trials (Tune's fit, all of it)"]
            + measured["Tune's set-up to the first trial's start"]
            + measured["first trial's worker up to its first epoch"])


def heavy_imports() -> dict[str, float]:
    """Cumulative import seconds of the heaviest packages the driver imports."""
    imports = "import search.tuning.pipeline, search.tuning.tuner"
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", imports],
                          cwd=REPO, capture_output=True, text=True, check=True)
    cumulative = {}
    for line in done.stderr.splitlines():
        found = re.match(r"import time:\s+\d+ \|\s+(\d+) \|(\s*)(\S+)", line)
        if found and found.group(3) in HEAVY_IMPORTS and found.group(3) not in cumulative:
            cumulative[found.group(3)] = int(found.group(1)) / 1e6
    return dict(sorted(cumulative.items(), key=lambda item: -item[1]))


def one_run(space: str, overrides: list[str], smoke: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "stamps.json"
        command = [sys.executable, str(Path(__file__).resolve()), "--child", str(out), str(Path(space).resolve()),
                   "--set", f"tracking.uri=sqlite:///{folder}/mlflow.db", "--set", f"search.storage={folder}/ray",
                   *sum((["--set", s] for s in overrides), []), *(["--smoke"] if smoke else [])]
        launched = time.time()
        subprocess.run(command, cwd=folder, check=True, stdout=subprocess.DEVNULL,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
        exited = time.time()
        return phases(launched, json.loads(out.read_text()), exited)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("space", nargs="?", default="spaces/rnn_units.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--record", action="store_true", help="write the figures into bench/results.json")
    parser.add_argument("--child", metavar="OUT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.space, args.set, args.smoke, args.child)
        from search.run import exit_without_teardown

        exit_without_teardown(0)  # as `python -m search.run` ends
    runs = [one_run(args.space, args.set, args.smoke) for _ in range(args.runs)]
    median = {name: round(statistics.median(run[name] for run in runs), 2) for name in runs[0]}
    median["fixed (all but the trials' training)"] = round(statistics.median(fixed_seconds(r) for r in runs), 2)
    figures = {"phases_s": median, "runs": args.runs, "space": args.space, "overrides": args.set,
               "smoke": args.smoke, "imports_s": heavy_imports()}
    if args.record:
        record("startup", figures, headline=False)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
