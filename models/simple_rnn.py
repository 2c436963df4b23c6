"""The report's SimpleRNN forecaster: a stack of recurrent layers and a Linear head.

Two options from the forecasting literature, both off by default (the report's model):

- `highway`: LSTNet's autoregressive "highway" (Lai et al., 2018), a linear map of the
  whole input window added to the recurrent part's forecast. The linear part carries the
  scale and the strong linear dependence on recent values, which a recurrent net learns
  slowly and imprecisely; the recurrent part is left the non-linear rest.
- `difference`: the network reads the window's step-to-step changes and predicts the
  change from its last value, which is added back (the series differenced once, as
  ARIMA's d = 1). Levels within one window are nearly collinear, so gradient descent
  on them creeps towards the fine structure (the momentum of the last steps) that a
  least-squares fit such as the ridge yardstick gets in closed form; on the changes
  it gets there in a few epochs.
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
                 difference: bool = False):
        super().__init__()
        # One module per layer, as the report's ModuleList, so dropout sits between layers.
        recurrent = CELLS[cell]
        self.rnn_layers = nn.ModuleList(
            recurrent(input_size if i == 0 else hidden_size, hidden_size, batch_first=True)
            for i in range(num_layers)
        )
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_size, output_size)
        steps = lookback - 1 if difference else lookback
        self.highway = nn.Linear(steps * input_size, output_size) if highway else None
        self.difference = difference

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (batch, steps, features)
        if self.difference:
            last = x[:, -1, :1]  # feature 0 is the series forecast
            x = torch.diff(x, dim=1)
        window = x
        for i, layer in enumerate(self.rnn_layers):
            x, _ = layer(x)
            if i < len(self.rnn_layers) - 1:
                x = self.dropout(x)
        out = self.fc(x[:, -1])  # the last step's state predicts the next `horizon` values
        if self.highway is not None:
            out = out + self.highway(window.flatten(1))
        if self.difference:
            out = out + last
        return out


@register_model("simple_rnn")
def simple_rnn(input_size: int, output_size: int, lookback: int,
               hidden_size: Annotated[int, Field(ge=1)] = 32,
               num_layers: Annotated[int, Field(ge=1)] = 3,
               dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0,  # between recurrent layers
               cell: Literal["rnn", "lstm", "gru"] = "rnn",
               highway: bool = False,
               difference: bool = False) -> nn.Module:
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {cell!r}")
    if difference and lookback < 2:
        raise ValueError(f"difference needs a lookback of at least 2 steps, got {lookback}")
    return SimpleRNN(input_size, output_size, lookback, hidden_size, num_layers, dropout, cell,
                     highway, difference)
