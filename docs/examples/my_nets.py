"""A model of your own, named `my_nets:TinyGRU` in a space: an nn.Module class, or a function
that returns one."""

from torch import nn


class TinyGRU(nn.Module):
    def __init__(self, input_size: int, output_size: int, hidden: int = 32, layers: int = 1):
        super().__init__()
        self.gru = nn.GRU(input_size, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, output_size)

    def forward(self, x):  # x: (batch, lookback, 1) for the electricity task (5 with data.calendar)
        out, _ = self.gru(x)
        return self.head(out[:, -1])
