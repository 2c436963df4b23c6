"""The report's SimpleRNN forecaster: a stack of recurrent layers and a Linear head."""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import Field
from search.models import register_model
from torch import nn

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class SimpleRNN(nn.Module):
    def __init__(self, input_size: int, output_size: int, hidden_size: int, num_layers: int,
                 dropout: float, cell: str):
        super().__init__()
        # One module per layer, as the report's ModuleList, so dropout sits between layers.
        recurrent = CELLS[cell]
        self.rnn_layers = nn.ModuleList(
            recurrent(input_size if i == 0 else hidden_size, hidden_size, batch_first=True)
            for i in range(num_layers)
        )
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_size, output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (batch, steps, features)
        for i, layer in enumerate(self.rnn_layers):
            x, _ = layer(x)
            if i < len(self.rnn_layers) - 1:
                x = self.dropout(x)
        return self.fc(x[:, -1])  # the last step's state predicts the next `horizon` values


@register_model("simple_rnn")
def simple_rnn(input_size: int, output_size: int,
               hidden_size: Annotated[int, Field(ge=1)] = 32,
               num_layers: Annotated[int, Field(ge=1)] = 3,
               dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0,  # between recurrent layers
               cell: Literal["rnn", "lstm", "gru"] = "rnn") -> nn.Module:
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {cell!r}")
    return SimpleRNN(input_size, output_size, hidden_size, num_layers, dropout, cell)
