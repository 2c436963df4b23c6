"""A trial's part of its GPU's memory: the limit it keeps to and the error when it runs out.

Ray counts GPU shares but does not isolate memory: four `gpu: 0.25` trials share one
GPU's memory, and one that grows past its quarter can take memory its neighbours need
(they then fail too). So a trial with a fractional share caps its own caching allocator
at that fraction of the GPU (`torch.cuda.set_per_process_memory_fraction`): an
allocation past it fails in that trial alone, with a reason that says so.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Iterator

import torch

GIB = 1024 ** 3
# At most this part of a trial's memory share holds its data splits on the device; the
# rest is for the network, its gradients, the optimizer state and the activations.
DATA_PART_OF_SHARE = 0.25


class TrialOutOfMemory(RuntimeError):
    """The trial needed more GPU memory than its share: it fails, its neighbours go on."""


def limit_memory_to_share(device: torch.device, share: float) -> None:
    """Caps this process's CUDA allocator at `share` of the GPU when the share is a fraction."""
    if device.type == "cuda" and 0 < share < 1:
        torch.cuda.set_per_process_memory_fraction(share)  # the current device: the one Ray assigned


def memory_of_share(device: torch.device, share: float) -> int:
    """Bytes of GPU memory a trial with this share may use (a whole GPU for shares of 1 and above)."""
    total = torch.cuda.get_device_properties(device).total_memory
    return int(total * min(share, 1.0))


def fits_on_device(nbytes: int, device: torch.device, share: float) -> bool:
    """Whether data of `nbytes` may live on the trial's device for the whole trial."""
    if device.type != "cuda":
        return True  # the CPU holds the splits anyway
    return nbytes <= DATA_PART_OF_SHARE * memory_of_share(device, share)


def _gib(nbytes: float) -> str:
    return f"{nbytes / GIB:.2f} GiB"


def out_of_memory_reason(error: BaseException, device: torch.device, share: float, when: str) -> str:
    """One line: that the trial ran out of memory in its share, and how much it asked for."""
    asked = re.search(r"Tried to allocate ([\d.]+ [KMGT]?i?B)", str(error))
    if device.type != "cuda":
        where, in_use = f"memory on {device}", 0
    else:
        in_use = torch.cuda.memory_reserved(device)
        where = (f"GPU memory in its share (gpu: {share:g}, {_gib(memory_of_share(device, share))} of the GPU)"
                 if 0 < share < 1 else f"GPU memory ({_gib(memory_of_share(device, 1.0))})")
    return (f"ran out of {where} {when}: asked for "
            f"{asked.group(1) if asked else 'an unknown amount'} more with {_gib(in_use)} already held; "
            "`python -m search.run SPACE --dry-run` on a GPU machine prints the smallest safe share")


@contextmanager
def out_of_memory_fails_the_trial(device: torch.device, share: float, when: str) -> Iterator[None]:
    """Turns CUDA's out-of-memory error into TrialOutOfMemory with a one-line reason
    (the failed-trial record keeps the exception's last line); `when` says where it
    happened ("at epoch 3")."""
    try:
        yield
    except torch.OutOfMemoryError as err:
        # `from err` keeps CUDA's own report (the allocator's figures) in the traceback.
        raise TrialOutOfMemory(out_of_memory_reason(err, device, share, when)) from err


def process_gpu_memory() -> int | None:
    """GPU memory this process holds in all (CUDA context included), as the driver counts
    it; None where NVML cannot say (no nvidia-ml-py, or no such line for this process)."""
    import os

    try:
        listing = torch.cuda.list_gpu_processes()
    except (ImportError, RuntimeError, TypeError):  # TypeError: NVML gave no figure for a process
        return None
    found = re.search(rf"process\s+{os.getpid()} uses\s+([\d.]+) MB", listing)
    return int(float(found.group(1)) * 1024 ** 2) if found else None
