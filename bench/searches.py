"""One search of a space file, run as a user runs it, into a folder of its own; read back from MLflow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

REPO = Path(__file__).resolve().parent.parent


def run_space(space: Path, folder: Path, seed: int, smoke: bool) -> tuple[MlflowClient, object, float]:
    """`python -m search.run SPACE --set search.seed=SEED` into `folder`'s own MLflow store and
    Ray results: (its client, the search run, the wall seconds of the whole command)."""
    folder.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{folder}/mlflow.db"
    command = [sys.executable, "-m", "search.run", str(space), "--set", f"search.seed={seed}",
               "--tracking-uri", uri, "--storage", str(folder / "ray_results")] + (["--smoke"] if smoke else [])
    # The platform of this checkout, whichever copy of it is installed: its root first on the path.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    started = time.perf_counter()
    subprocess.run(command, cwd=folder, check=True, stdout=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - started
    client = MlflowClient(tracking_uri=uri)
    [search] = client.search_runs([e.experiment_id for e in client.search_experiments()],
                                  "tags.`search.role` = 'search'")
    return client, search, wall


def record_unless_smoke(name: str, figures: dict, smoke: bool) -> None:
    """Records the figures (bench/results.json) and prints them without the per-run details; a
    --smoke run proves the script works, its figures are no benchmark and are not recorded."""
    from results import record

    if not smoke:
        record(name, figures)
    print(json.dumps({k: v for k, v in figures.items() if k != "runs"}, indent=2))
