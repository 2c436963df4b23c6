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

Channels after the first are known covariates, not forecast (the series task's calendar:
sin and cos of each step's time of day and day of week). The recurrent part reads them
all; `difference` differences the series' channel only; and the highway's weights vary
with the covariates of the window's last step: each step's weight is a linear function
of (1, covariates), a time-varying autoregression. The load's dependence on its recent
past differs by time of day (ridge fitted per 3-hour slot beats one ridge by a quarter),
and a fixed linear map beside a recurrent net that reads the calendar did not get there.
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
        # One weight per step and per term of (1, covariates): steps * input_size in all.
        self.highway = nn.Linear(steps * input_size, output_size) if highway else None
        self.difference = difference

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (batch, steps, features)
        if self.difference:
            last = x[:, -1, :1]  # feature 0 is the series forecast
            if x.shape[2] == 1:
                x = torch.diff(x, dim=1)
            else:  # covariates are known values: read at the later step of each change
                x = torch.cat([torch.diff(x[:, :, :1], dim=1), x[:, 1:, 1:]], dim=2)
        window = x
        for i, layer in enumerate(self.rnn_layers):
            x, _ = layer(x)
            if i < len(self.rnn_layers) - 1:
                x = self.dropout(x)
        out = self.fc(x[:, -1])  # the last step's state predicts the next `horizon` values
        if self.highway is not None:
            out = out + self.highway(highway_inputs(window))
        if self.difference:
            out = out + last
        return out


def highway_inputs(window: torch.Tensor) -> torch.Tensor:
    """The highway's inputs: the window itself, or with covariates the series' channel times
    each term of (1, the last step's covariates), so that its weights vary with them."""
    if window.shape[2] == 1:
        return window.flatten(1)
    terms = torch.cat([torch.ones_like(window[:, -1, :1]), window[:, -1, 1:]], dim=1)
    return (window[:, :, :1] * terms[:, None, :]).flatten(1)  # (batch, steps * terms)


@register_model("simple_rnn")
def simple_rnn(input_size: int, output_size: int, lookback: int,
               hidden_size: Annotated[int, Field(ge=1)] = 32,
               num_layers: Annotated[int, Field(ge=1)] = 3,
               dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0,  # between recurrent layers
               cell: Literal["rnn", "lstm", "gru"] = "rnn",
               highway: bool = False,
               difference: bool = False) -> nn.Module:
    """The report's SimpleRNN: a stack of recurrent layers and a Linear head.

    Args:
        hidden_size: Units per recurrent layer.
        num_layers: Recurrent layers, stacked.
        dropout: Dropout between the recurrent layers.
        cell: The recurrent cell: rnn (the report's), lstm or gru.
        highway: LSTNet's autoregressive highway: a linear map of the whole window added to the
            recurrent part's forecast, its weights varying with the calendar features.
        difference: The network reads the window's step-to-step changes and predicts the change
            from its last value (the series differenced once, as ARIMA's d = 1).
    """
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {cell!r}")
    if difference and lookback < 2:
        raise ValueError(f"difference needs a lookback of at least 2 steps, got {lookback}")
    return SimpleRNN(input_size, output_size, lookback, hidden_size, num_layers, dropout, cell,
                     highway, difference)
