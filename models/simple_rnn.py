"""The report's SimpleRNN forecaster: a stack of recurrent layers and a Linear head.

Two options from the forecasting literature, both off by default (the report's model):

- `highway`: LSTNet's autoregressive "highway" (Lai et al., 2018), a linear map of the
  whole input window added to the recurrent part's forecast. The linear part carries the
  scale and the strong linear dependence on recent values, which a recurrent net learns
  slowly and imprecisely; the recurrent part is left the non-linear rest.
- `predict_change`: the network predicts the change from the window's last value, which
  is added back (persistence plus a learned correction; the target's scale no longer
  has to pass through the recurrent state).
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import Field
from search.models import register_model
from torch import nn

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class SimpleRNN(nn.Module):
    def __init__(self, input_size: int, output_size: int, lookback: int, hidden_size: int,
                 num_layers: int, dropout: float, cell: str, highway: bool = False,
                 predict_change: bool = False):
        super().__init__()
        # One module per layer, as the report's ModuleList, so dropout sits between layers.
        recurrent = CELLS[cell]
        self.rnn_layers = nn.ModuleList(
            recurrent(input_size if i == 0 else hidden_size, hidden_size, batch_first=True)
            for i in range(num_layers)
        )
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_size, output_size)
        self.highway = nn.Linear(lookback * input_size, output_size) if highway else None
        self.predict_change = predict_change

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (batch, steps, features)
        window = x
        for i, layer in enumerate(self.rnn_layers):
            x, _ = layer(x)
            if i < len(self.rnn_layers) - 1:
                x = self.dropout(x)
        out = self.fc(x[:, -1])  # the last step's state predicts the next `horizon` values
        if self.highway is not None:
            out = out + self.highway(window.flatten(1))
        if self.predict_change:
            out = out + window[:, -1, :1]  # feature 0 is the series forecast
        return out


@register_model("simple_rnn")
def simple_rnn(input_size: int, output_size: int, lookback: int,
               hidden_size: Annotated[int, Field(ge=1)] = 32,
               num_layers: Annotated[int, Field(ge=1)] = 3,
               dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0,  # between recurrent layers
               cell: Literal["rnn", "lstm", "gru"] = "rnn",
               highway: bool = False,
               predict_change: bool = False) -> nn.Module:
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {cell!r}")
    return SimpleRNN(input_size, output_size, lookback, hidden_size, num_layers, dropout, cell,
                     highway, predict_change)
