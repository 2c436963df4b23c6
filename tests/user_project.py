"""A user's own project, as the tests write it into a folder outside the repository: their
model in their own `models/` package, their task in `my_tasks.py`, their CSV in a `data/`
folder (no __init__.py), and a space file naming them by import path."""

from __future__ import annotations

from pathlib import Path

MODELS_GRU = '''\
import torch
from torch import nn


class TinyGRU(nn.Module):
    """One GRU layer and a Linear head: the next value from a window."""

    def __init__(self, input_size: int, output_size: int, hidden: int = 8, layers: int = 1):
        super().__init__()
        self.gru = nn.GRU(input_size, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, output_size)

    def forward(self, x):
        out, _ = self.gru(x)
        return self.head(out[:, -1])
'''

MY_NETS = '''\
from torch import nn

NOT_CALLABLE = 3


def wrong_shape(input_size: int, output_size: int) -> nn.Module:
    return nn.Linear(input_size, 3)  # per time step: [batch, window, 3], not [batch, 1]


def raises(input_size: int, output_size: int, hidden: int = 7) -> nn.Module:
    if hidden % 2:
        raise ValueError(f"hidden must be even, got {hidden}")
    return nn.Linear(input_size, output_size)


def needs_colour(input_size: int, colour: str) -> nn.Module:
    return nn.Linear(input_size, 1)


def not_a_module(input_size: int, output_size: int):
    return "a string"


class NotAModule:
    def __init__(self, input_size: int):
        pass
'''

BROKEN = "import no_such_dependency_xyz  # the user's module needs a package that is not installed\n"

MY_TASKS = '''\
"""Units sold per step, from a CSV: forecast the next value from the last `window`."""

import numpy as np
import pandas as pd
import torch
from pydantic import Field

from search.data import Splits, Task, TaskOptions


class SalesOptions(TaskOptions):
    path: str = "data/sales.csv"
    window: int = Field(8, ge=2)


class SalesTask(Task):
    kind = "regression"
    Options = SalesOptions
    searchable = frozenset({"window"})

    def load(self, options, smoke=False):
        values = pd.read_csv(options.path)["units"].to_numpy(np.float64)
        train = values[: int(len(values) * 0.7)]
        low, high = train.min(), train.max()
        return {"scaled": ((values - low) / (high - low)).astype(np.float32), "scale": high - low, "offset": low}

    def splits(self, loaded, options):
        windows = np.lib.stride_tricks.sliding_window_view(loaded["scaled"], options.window + 1)
        x = torch.from_numpy(windows[:, :-1].copy())[..., None]
        y = torch.from_numpy(windows[:, -1:].copy())
        a, b = int(len(x) * 0.7), int(len(x) * 0.85)
        return Splits(train=(x[:a], y[:a]), val=(x[a:b], y[a:b]), test=(x[b:], y[b:]),
                      model_inputs=self.model_inputs(options),
                      target_scale=loaded["scale"], target_offset=loaded["offset"])

    def model_inputs(self, options):
        return {"input_size": 1, "output_size": 1}

    def example_input(self, options):
        return torch.zeros(2, options.window, 1)

    def preprocessing(self, loaded, options):
        return {"window": options.window, "scale": loaded["scale"], "offset": loaded["offset"]}


class NotATask:
    pass
'''

SPACE = """\
name: sales
task: my_tasks:SalesTask
data: {path: data/sales.csv, window: 8}
model: {name: models.gru:TinyGRU, hidden: 8}
train: {epochs: 2, batch_size: 64, patience: null}
search:
  num_samples: 2
  max_concurrent: 2
  scheduler: {name: none}
space:
  model.hidden: {choice: [4, 8]}
"""


def write_user_project(folder: Path, values) -> Path:
    """The project's files; `values` (real numbers) become data/sales.csv. Returns the space."""
    (folder / "models").mkdir()
    (folder / "models" / "__init__.py").write_text("")
    (folder / "models" / "gru.py").write_text(MODELS_GRU)
    (folder / "data").mkdir()  # a data folder of their own, without __init__.py
    (folder / "data" / "sales.csv").write_text("units\n" + "\n".join(f"{v:.4f}" for v in values) + "\n")
    (folder / "my_nets.py").write_text(MY_NETS)
    (folder / "broken_import.py").write_text(BROKEN)
    (folder / "my_tasks.py").write_text(MY_TASKS)
    space = folder / "space.yaml"
    space.write_text(SPACE)
    return space
