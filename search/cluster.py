"""Ray for one search: a local cluster started for it, or an existing one joined.

A user's own model or task (`module:callable`) reaches every worker, on every node,
through Ray's runtime_env `py_modules`: Ray uploads those files once per search and
puts them on each worker's import path.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from search.errors import SpecError


def start_ray(address: str | None, py_modules: list[str]) -> tuple[int, bool]:
    """Starts a local Ray, or joins the cluster at `address`. Returns the number of live
    nodes and whether this call started (so must stop) Ray. A Ray the caller already
    started (`ray.init()` in a notebook) is used as it is: Ray puts the folder it was
    started in on its workers' import path, and that is where a user's modules are found."""
    import ray

    # Every epoch checkpoints by design (resume loses nothing); Ray warns about the
    # frequent experiment snapshots that follow, which at these sizes cost little.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    started = False
    if not ray.is_initialized():
        runtime_env = {"py_modules": py_modules} if py_modules else None
        try:
            ray.init(address=address, include_dashboard=False, logging_level="WARNING",
                     runtime_env=runtime_env)
        except (ConnectionError, ValueError, RuntimeError) as err:
            raise SpecError(f"--address {address}: cannot join a Ray cluster there ({err})") from None
        started = True
    return sum(1 for node in ray.nodes() if node.get("Alive")), started


def stop_ray() -> None:
    import ray

    ray.shutdown()


def open_tracking_store(uri: str) -> None:
    """Opens a local MLflow store, building its schema when the file is new (about 1.5 s).

    Errors are left to the search run's creation just after, which reports them.
    """
    from mlflow.tracking import MlflowClient

    if uri.startswith("sqlite:"):
        try:
            MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
        except Exception:  # noqa: BLE001 - reported by the Tracker that follows
            pass


def start_ray_and_tracking(address: str | None, tracking_uri: str, py_modules: list[str]) -> tuple[int, bool]:
    """Ray's start is mostly waiting on the processes it launches; the tracking store
    opens meanwhile."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(open_tracking_store, tracking_uri)
        return start_ray(address, py_modules)
