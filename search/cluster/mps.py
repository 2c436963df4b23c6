"""Whether trials that share a GPU run under NVIDIA's Multi-Process Service (MPS).

Without MPS, processes on one GPU take turns on it (time slicing): four `gpu: 0.25`
trials of small networks get far less than four times one trial. Under MPS their
kernels run side by side. The cluster files start the MPS control daemon on every GPU
node before Ray (docs/clusters.md, "Several trials on one GPU"); this says at a search's start
whether the GPU nodes Ray knows have it running.
"""

from __future__ import annotations

import os

# Where CUDA clients find the daemon: the default, or the folder the daemon was started with.
DEFAULT_PIPE_DIRECTORY = "/tmp/nvidia-mps"


def mps_daemon_running(environ: dict[str, str] | None = None) -> bool:
    """Whether a CUDA process started with this environment would connect to an MPS daemon:
    the daemon's control socket is in its pipe folder."""
    environ = os.environ if environ is None else environ
    folder = environ.get("CUDA_MPS_PIPE_DIRECTORY") or DEFAULT_PIPE_DIRECTORY
    return os.path.exists(os.path.join(folder, "control"))


def _gpu_nodes() -> list[str]:
    import ray

    return [node["NodeID"] for node in ray.nodes()
            if node.get("Alive") and node.get("Resources", {}).get("GPU", 0) > 0]


def mps_on_gpu_nodes(timeout_s: float = 60.0) -> tuple[int, int]:
    """(GPU nodes running the MPS daemon, GPU nodes) among the live nodes of the connected
    Ray cluster. Asks each GPU node itself: the driver may run on a machine without one."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = _gpu_nodes()
    # Ray's workers inherit the node's environment, as the trials will.
    check = ray.remote(num_cpus=0)(mps_daemon_running)
    answers = ray.get([check.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False))
                       .remote() for node in nodes], timeout=timeout_s)
    return sum(answers), len(nodes)


def gpu_sharing_line(gpu_share: float) -> str | None:
    """One line for a search's start when trials share GPUs (0 < gpu < 1), else None."""
    if not 0 < gpu_share < 1:
        return None
    per_gpu = int(1 / gpu_share)
    under_mps, gpu_nodes = mps_on_gpu_nodes()
    head = f"[search] gpu {gpu_share:g} per trial ({per_gpu} trials per GPU):"
    if gpu_nodes == 0:
        return f"{head} no GPU node is up yet; the cluster files start MPS on each GPU node they add"
    runs = f"{head} NVIDIA MPS runs on {under_mps} of {gpu_nodes} GPU node(s)"
    if under_mps == gpu_nodes:
        return f"{runs}: trials on one GPU run side by side"
    return f"{runs}; without it trials on one GPU take turns (docs/clusters.md: Several trials on one GPU)"


def report_gpu_sharing(gpu_share: float) -> None:
    line = gpu_sharing_line(gpu_share)
    if line is not None:
        print(line, flush=True)
