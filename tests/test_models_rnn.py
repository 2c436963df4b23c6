"""SimpleRNN: the report's layer stack, every cell type, output shapes."""

from __future__ import annotations

import pytest
import torch
from search.models import count_parameters, create_model


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("horizon", [1, 4])
def test_output_shape(cell, horizon):
    model = create_model("simple_rnn", {"hidden_size": 16, "num_layers": 3, "cell": cell},
                         {"input_size": 1, "output_size": horizon})
    assert model(torch.randn(5, 48, 1)).shape == (5, horizon)


def test_report_architecture_parameter_count():
    # RNN(1, 32) + 2 x RNN(32, 32) + Linear(32, 1), as printed in the report.
    model = create_model("simple_rnn", {"hidden_size": 32, "num_layers": 3}, {"input_size": 1, "output_size": 1})
    rnn_first = 32 * 1 + 32 * 32 + 2 * 32
    rnn_next = 32 * 32 + 32 * 32 + 2 * 32
    assert count_parameters(model) == rnn_first + 2 * rnn_next + 33
    assert len(model.rnn_layers) == 3
