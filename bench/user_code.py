"""What shipping a user's own modules to Ray's workers costs a search (runtime_env py_modules).

    python bench/user_code.py [--rounds 5]

A search whose model or task is the user's code (`module:callable`) starts Ray with
`runtime_env={"py_modules": [...]}`: Ray zips the user's files, uploads them to its
object store and unpacks them for each worker. This times, in fresh processes and in
alternating order, Ray's start and the first task that imports the user's modules, with
and without py_modules, on the small user project of the tests (a task file and a
`models/` package). Figures: medians of each, and their difference (`py_modules_cost_s`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from results import record  # noqa: E402

from tests.user_project import write_user_project  # noqa: E402

PROBE = """
import json, os, sys, time
started = time.perf_counter()
import ray
ship = sys.argv[1] == "ship"
env = {"py_modules": [os.path.abspath("my_tasks.py"), os.path.abspath("models")]} if ship else None
ray.init(address="local", include_dashboard=False, logging_level="ERROR", runtime_env=env)
initialized = time.perf_counter()

@ray.remote
def first_task():
    import models.gru, my_tasks  # noqa: F401 - what a trial of the user's code imports
    return True

ray.get(first_task.remote())
done = time.perf_counter()
ray.shutdown()
print(json.dumps({"init_s": initialized - started, "first_task_s": done - initialized}))
"""


def one(folder: Path, mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], cwd=folder, capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_user_project(folder, np.linspace(1.0, 2.0, 200))
        runs = {"plain": [], "ship": []}
        for _ in range(args.rounds):
            for mode in runs:
                runs[mode].append(one(folder, mode))
    total = {mode: statistics.median(r["init_s"] + r["first_task_s"] for r in rows) for mode, rows in runs.items()}
    figures = {
        "rounds": args.rounds,
        "without_py_modules_s": round(total["plain"], 2),
        "with_py_modules_s": round(total["ship"], 2),
        "py_modules_cost_s": round(total["ship"] - total["plain"], 2),
    }
    record("user_code_shipping", figures)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
