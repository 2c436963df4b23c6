"""A trial's checkpoint file, read as data: tensors, numbers, strings, lists and dicts.

torch.load with weights_only=False unpickles whatever the file holds, and unpickling can
run code (a `__reduce__` naming os.system). A checkpoint comes from storage that other
machines and people write to, so every load goes through `load_checkpoint`, which uses
torch's weights-only unpickler and refuses anything else, naming the file.
"""

from __future__ import annotations

import os
import pickle
from typing import Any

import torch

CHECKPOINT_FILE = "trial.pt"  # in each of a trial's checkpoint folders


class CheckpointRefused(RuntimeError):
    """The checkpoint file holds more than plain data, or is no checkpoint at all."""


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The state a trial saved (TrialState.state_dict()), its tensors on the CPU.

    On the CPU: the driver that scores the best trial may have no GPU, and
    load_state_dict copies each tensor to its model's or optimizer's device anyway.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointRefused(
            f"checkpoint {os.fspath(path)} was refused: it holds objects other than tensors and plain "
            f"data ({_reason(err)}), and a checkpoint is loaded as data, never run as code") from err
    except Exception as err:  # gone, not a torch file, or cut short: torch's errors vary
        raise CheckpointRefused(f"checkpoint {os.fspath(path)} cannot be read: {_reason(err)}") from err


def load_checkpoint_folder(folder: str | os.PathLike) -> dict[str, Any]:
    return load_checkpoint(os.path.join(folder, CHECKPOINT_FILE))


def _reason(err: Exception) -> str:
    # torch's weights-only error is a page of advice; the line naming what it met is the reason.
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("WeightsUnpickler error: Unsupported", "Unsupported", "Trying to load")):
            # Not its advice to allow-list the class: a checkpoint never needs one.
            return line.removeprefix("WeightsUnpickler error: ").split(". Please use")[0][:300]
    return (lines[0] if lines else type(err).__name__)[:300]
