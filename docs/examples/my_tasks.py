"""A task of your own: a series in a CSV (a `units` column), forecast one step ahead."""

import numpy as np
import pandas as pd
import torch
from pydantic import Field
from search.data import Splits, Task, TaskOptions


class SalesOptions(TaskOptions):  # the space's data: keys (unknown keys are refused)
    path: str = "sales.csv"
    window: int = Field(8, ge=2)


class SalesTask(Task):
    kind = "regression"  # or "classification"
    Options = SalesOptions
    searchable = frozenset({"window"})  # data: keys a space may search (the rest load once)

    def load(self, options, smoke=False):
        """Heavy, once per search in the driver; the result reaches every trial through
        Ray's object store (so it must pickle)."""
        values = pd.read_csv(options.path)["units"].to_numpy(np.float64)
        train = values[: int(len(values) * 0.7)]
        low, high = train.min(), train.max()
        return {"scaled": ((values - low) / (high - low)).astype(np.float32), "scale": high - low, "offset": low}

    def splits(self, loaded, options):
        """Cheap, once per trial: (inputs, targets) tensors for train, val and test."""
        windows = np.lib.stride_tricks.sliding_window_view(loaded["scaled"], options.window + 1)
        x = torch.from_numpy(windows[:, :-1].copy())[..., None]
        y = torch.from_numpy(windows[:, -1:].copy())
        a, b = int(len(x) * 0.7), int(len(x) * 0.85)
        return Splits(train=(x[:a], y[:a]), val=(x[a:b], y[a:b]), test=(x[b:], y[b:]),
                      model_inputs=self.model_inputs(options),
                      target_scale=loaded["scale"], target_offset=loaded["offset"])

    def model_inputs(self, options):
        """What the data fixes for the model, known without loading (--dry-run)."""
        return {"input_size": 1, "output_size": 1}

    def example_input(self, options):
        """One example batch, the shape splits() gives (the model is tried on it)."""
        return torch.zeros(2, options.window, 1)

    def preprocessing(self, loaded, options):
        """What `search.predict` needs beside the model to forecast from raw values (as JSON)."""
        return {"window": options.window, "scale": loaded["scale"], "offset": loaded["offset"]}
