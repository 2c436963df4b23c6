"""SimpleRNN: the report's layer stack, every cell type, output shapes, the forecasting options."""

from __future__ import annotations

import pytest
import torch
from search.models import count_parameters, create_model


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("horizon", [1, 4])
def test_output_shape(cell, horizon):
    model = create_model("simple_rnn", {"hidden_size": 16, "num_layers": 3, "cell": cell},
                         {"input_size": 1, "output_size": horizon, "lookback": 48})
    assert model(torch.randn(5, 48, 1)).shape == (5, horizon)


def test_report_architecture_parameter_count():
    # RNN(1, 32) + 2 x RNN(32, 32) + Linear(32, 1), as printed in the report.
    model = create_model("simple_rnn", {"hidden_size": 32, "num_layers": 3},
                         {"input_size": 1, "output_size": 1, "lookback": 48})
    rnn_first = 32 * 1 + 32 * 32 + 2 * 32
    rnn_next = 32 * 32 + 32 * 32 + 2 * 32
    assert count_parameters(model) == rnn_first + 2 * rnn_next + 33
    assert len(model.rnn_layers) == 3


def rnn(**options):
    torch.manual_seed(0)
    return create_model("simple_rnn", {"hidden_size": 8, "num_layers": 2, **options},
                        {"input_size": 1, "output_size": 2, "lookback": 12})


def test_highway_adds_a_linear_map_of_the_whole_window():
    plain, wide = rnn(), rnn(highway=True)
    assert count_parameters(wide) - count_parameters(plain) == 12 * 2 + 2
    x = torch.randn(4, 12, 1)
    with torch.no_grad():
        wide.highway.weight.zero_()
        wide.highway.weight[:, 0] = 1.0  # the window's first value, added to both outputs
        wide.highway.bias.zero_()
        recurrent = rnn()(x)  # the same seed: the same recurrent weights
        assert torch.allclose(wide(x), recurrent + x[:, :1, 0])


def test_difference_reads_the_changes_and_adds_the_last_value_back():
    x = torch.randn(4, 12, 1)
    with torch.no_grad():
        assert torch.allclose(rnn(difference=True)(x), rnn()(torch.diff(x, dim=1)) + x[:, -1, :1])
        differenced = rnn(difference=True, highway=True)
        assert differenced.highway.in_features == 11  # the 11 changes within 12 steps
        differenced.highway.weight.zero_()
        differenced.highway.bias.fill_(0.5)
        assert torch.allclose(differenced(x), rnn()(torch.diff(x, dim=1)) + x[:, -1, :1] + 0.5)
    assert count_parameters(rnn(difference=True)) == count_parameters(rnn())


def test_difference_needs_two_steps():
    with pytest.raises(ValueError, match="difference needs a lookback of at least 2"):
        create_model("simple_rnn", {"difference": True}, {"input_size": 1, "output_size": 1, "lookback": 1})
