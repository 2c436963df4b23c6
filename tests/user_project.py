"""A user's own project, as the tests write it into a folder outside the repository: their
model in their own `models/` package, their task in `my_tasks.py`, their CSV in a `data/`
folder (no __init__.py), and a space file naming them by import path."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import REPO

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

# The task the docs show (docs/examples/my_tasks.py), its CSV in the project's data/ folder.
MY_TASKS = (REPO / "docs" / "examples" / "my_tasks.py").read_text().replace(
    'path: str = "sales.csv"', 'path: str = "data/sales.csv"') + """

class NotATask:
    pass
"""

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
