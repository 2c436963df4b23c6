"""Ray for one search: a local cluster started for it, or an existing one joined.

A user's own model or task (`module:callable`) reaches every worker, on every node,
through Ray's runtime_env `py_modules`: Ray uploads those files once per search and
puts them on each worker's import path.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Iterator

from search.errors import SpecError

# Joining an address where nothing answers makes ray.init retry for over a minute, deaf
# to Ctrl-C; a plain connection to the head's GCS port says as much in a few seconds.
CONNECT_TIMEOUT_S = 3
# How long a search waits for another one building a new SQLite store's schema (seconds).
SCHEMA_LOCK_S = 300
# What `ray up` (the cluster files) leaves on the head node, where a search's driver runs
# (`ray job submit`): the autoscaler's config. Its presence is how a search knows that
# nodes may still be added to the cluster it joined.
LAUNCHER_CONFIG = "~/ray_bootstrap_config.yaml"
RAY_CLIENT_REFUSAL = (
    "Ray Client (ray://) cannot run a search: Ray Tune would run the search loop on the "
    "cluster, apart from the MLflow logging this command does in its driver; run the command "
    "on the head node instead, with `ray job submit --address http://HEAD:8265 --working-dir . "
    "-- python -m search.run SPACE --address auto` or with --address auto in a shell there")


def check_address(address: str | None) -> None:
    """Refuses, before the data loads and Ray starts, an address no search can join."""
    import ray

    from search.tuning.ray_internals import find_cluster_address

    where = "--address"
    if address is None and os.environ.get("RAY_ADDRESS") and not ray.is_initialized():
        address, where = os.environ["RAY_ADDRESS"], "RAY_ADDRESS"  # what the search would join
    if address is None or address == "local":
        return  # a local Ray of its own, or the caller's (a notebook's ray.init())
    if address.startswith("ray://"):
        raise SpecError(f"{where} {address}: {RAY_CLIENT_REFUSAL}")
    try:
        host_port = find_cluster_address(address)
    except ConnectionError:
        raise SpecError(f"{where} {address}: no running Ray cluster found on this machine; start one "
                        "(`ray start --head`), give HOST:PORT of a cluster's head, or leave --address "
                        "out for a local Ray of the search's own") from None
    except ValueError:
        raise SpecError(f"{where} {address}: expected auto or HOST:PORT of a cluster's head (its GCS "
                        "port, 6379 by default)") from None
    host, _, port = host_port.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except (OSError, ValueError) as err:
        if isinstance(err, ConnectionRefusedError):
            reason = "nothing listens there (connection refused)"
        elif isinstance(err, TimeoutError):
            reason = f"no answer within {CONNECT_TIMEOUT_S} s"
        else:
            reason = getattr(err, "strerror", None) or str(err)
        found = f" (found at {host_port})" if address == "auto" else ""
        raise SpecError(f"{where} {address}: no Ray cluster answers there{found}: {reason}; is it "
                        "up (`ray status` on its head)? The address is the head's GCS port, 6379 by "
                        "default") from None


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
        # Without an address, a Ray of the search's own: ray.init(None) would join any other
        # local Ray it finds (another search's, a test's), whose end would end this search.
        target = address or os.environ.get("RAY_ADDRESS") or "local"
        try:
            with without_token_notice():
                ray.init(address=target, include_dashboard=False, logging_level="WARNING",
                         runtime_env=runtime_env, **own_ray_settings(target))
        except (ConnectionError, ValueError, RuntimeError) as err:
            if address is None and not os.environ.get("RAY_ADDRESS"):
                raise SpecError(f"cannot start a local Ray ({err})") from None
            raise SpecError(f"--address {target}: cannot join a Ray cluster there ({err})") from None
        started = True
        _shutdown.started_here = True
    return sum(1 for node in ray.nodes() if node.get("Alive")), started


class _DropTokenNotice(logging.Filter):
    def __init__(self, notice: str):
        super().__init__()
        self.notice = notice

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.notice)


@contextmanager
def without_token_notice() -> Iterator[None]:
    """Ray's token authentication stays on, as Ray sets it for a new local cluster; only
    its notice that it did so is left out, a warning at every search about a Ray no one
    else uses. Ray's supported switch, RAY_AUTH_MODE=token set beforehand, would also
    silence it, but Ray reads that variable once, when it is first imported, and a
    notebook (or this process) may have imported Ray long before."""
    from search.tuning.ray_internals import AUTH_TOKEN_LOGGER, AUTH_TOKEN_NOTICE

    logger, quiet = logging.getLogger(AUTH_TOKEN_LOGGER), _DropTokenNotice(AUTH_TOKEN_NOTICE)
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def own_ray_settings(target: str) -> dict:
    """For a Ray the search starts: trials at normal priority. Ray starts its workers at
    niceness 15, so beside any other busy process a trial gets a few percent of a core
    (an epoch of 3 s took 40 s beside two busy processes); the trials are the work asked for."""
    return {"_system_config": {"worker_niceness": 0}} if target == "local" else {}


def can_add_nodes(joined: bool) -> bool:
    """A Ray this search started never grows; a joined cluster may, where `ray up` set it up."""
    return joined and os.path.exists(os.path.expanduser(LAUNCHER_CONFIG))


def starts_own_ray(address: str | None) -> bool:
    """Whether `start_ray(address, ...)` would start a local Ray of the search's own (not
    join a cluster, not use a Ray the caller started)."""
    import ray

    return not ray.is_initialized() and (address or os.environ.get("RAY_ADDRESS") or "local") == "local"


def check_machine_fits(cpu: float, gpu: float) -> None:
    """For a Ray the search starts itself: a trial this machine cannot hold is refused
    before Ray starts or the MLflow store is opened, so the refusal is the only line and
    nothing is left behind. The machine is counted as Ray will count it."""
    from search.tuning.ray_internals import local_machine_resources

    try:
        machine = local_machine_resources()
    except ValueError:  # a malformed RAY_OVERRIDE_RESOURCES: ray.init reports it just after
        return
    problem = _shortfall(cpu, gpu, [machine], "this machine has")
    if problem:
        raise SpecError(f"{problem}; the search's own Ray has this machine's CPUs and GPUs (the GPUs "
                        "CUDA_VISIBLE_DEVICES leaves visible), so every trial would wait forever; ask for "
                        "less, or join a cluster that has such a node (--address)")


def _shortfall(cpu: float, gpu: float, nodes: list[dict], largest_has: str) -> str | None:
    """What no node of `nodes` (Ray resource dicts) can give one trial, or None if one can."""
    asked = {"cpu": cpu, "gpu": gpu}
    has = {name: [node.get(name.upper(), 0.0) for node in nodes] for name in asked}
    if any(all(has[name][i] >= value for name, value in asked.items() if value > 0) for i in range(len(nodes))):
        return None
    largest = {name: max(values, default=0.0) for name, values in has.items()}
    short = [name for name in asked if asked[name] > largest[name]]
    if short:
        name = short[0]
        return (f"search.resources.{name}: a trial asks for {asked[name]:g} {name.upper()}, {largest_has} "
                f"{largest[name]:g}")
    return (f"search.resources: a trial asks for cpu {cpu:g} and gpu {gpu:g} on one node; none of the "
            f"cluster's {len(nodes)} node(s) has both")


def check_resources_fit(cpu: float, gpu: float, joined: bool) -> str | None:
    """Refuses a trial that no live node can ever hold (Ray would keep every trial PENDING,
    silently, forever); with an autoscaler that may add such a node, returns a warning."""
    import ray

    nodes = [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive")]
    problem = _shortfall(cpu, gpu, nodes, f"the largest of the cluster's {len(nodes)} node(s) has")
    if problem is None:
        return None
    if can_add_nodes(joined):
        return f"{problem}; trials wait until the cluster's autoscaler adds a node that fits"
    raise SpecError(f"{problem}, and no autoscaler can add a node (a Ray started by the search, or a "
                    "cluster not set up by `ray up`), so every trial would wait forever; ask for less, "
                    "or join a cluster that has such a node")


class _Shutdown:
    """Whether this process started the Ray it is connected to, and a shutdown under way."""

    started_here = False
    thread: threading.Thread | None = None


_shutdown = _Shutdown()


def stop_ray_early() -> None:
    """Begins stopping a Ray this process started, once the search needs it no more (its
    trials ended; the evaluation and the export that follow run without Ray).

    ray.shutdown is over a second of waiting for Ray's processes to end; it runs beside the
    rest of the search instead of after it, and stop_ray waits for it. A Ray the caller
    started (a notebook's) or a cluster joined is left running."""
    import ray

    if _shutdown.started_here and _shutdown.thread is None:
        _shutdown.thread = threading.Thread(target=ray.shutdown, name="ray-shutdown")
        _shutdown.thread.start()


def stop_ray() -> None:
    import ray

    if _shutdown.thread is not None:
        _shutdown.thread.join()
        _shutdown.thread = None
    else:
        ray.shutdown()
    _shutdown.started_here = False


def open_tracking_store(uri: str) -> None:
    """Opens a local MLflow store, building its schema when the file is new (about 1.5 s).

    Errors are left to the search run's creation just after, which reports them.
    """
    from filelock import FileLock
    from mlflow.tracking import MlflowClient

    from search.tracking.store import sqlite_path

    if uri.startswith("sqlite:"):
        # Two searches started at once on a new file would both build its schema, and one
        # fails half-way (alembic's "table already exists"): the first builds it, the other waits.
        path = os.path.abspath(os.path.expanduser(sqlite_path(uri)))
        try:
            with FileLock(f"{path}.lock", timeout=SCHEMA_LOCK_S):
                MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
        except Exception:  # noqa: BLE001 - reported by the Tracker that follows
            pass


def start_ray_and_tracking(address: str | None, tracking_uri: str, py_modules: list[str]) -> tuple[int, bool]:
    """Ray's start is mostly waiting on the processes it launches; the tracking store
    opens meanwhile."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(open_tracking_store, tracking_uri)
        return start_ray(address, py_modules)
