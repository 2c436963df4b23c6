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


# --- covariates (the series task's calendar): channels after the first ------------------------


def rnn_with_covariates(**options):
    torch.manual_seed(0)
    return create_model("simple_rnn", {"hidden_size": 8, "num_layers": 2, **options},
                        {"input_size": 5, "output_size": 2, "lookback": 12})


def test_difference_with_covariates_differences_the_series_channel_only():
    x = torch.randn(4, 12, 5)
    expected_inputs = torch.cat([torch.diff(x[:, :, :1], dim=1), x[:, 1:, 1:]], dim=2)
    with torch.no_grad():
        differenced = rnn_with_covariates(difference=True)
        assert torch.allclose(differenced(x), rnn_with_covariates()(expected_inputs) + x[:, -1, :1])
        # The recurrent part reads every channel: changing a covariate changes the forecast.
        moved = x.clone()
        moved[:, 5, 3] += 1.0
        assert not torch.allclose(differenced(moved), differenced(x))


def test_the_highway_weights_vary_with_the_last_steps_covariates():
    wide = rnn_with_covariates(highway=True)
    assert wide.highway.in_features == 12 * 5  # a weight per step and per term of (1, 4 covariates)
    x = torch.randn(4, 12, 5)
    with torch.no_grad():
        recurrent = rnn_with_covariates()(x)  # the same seed: the same recurrent weights
        wide.highway.weight.zero_()
        wide.highway.bias.zero_()
        wide.highway.weight[:, 3 * 5 + 0] = 1.0  # step 3's value, whatever the covariates
        wide.highway.weight[:, 7 * 5 + 2] = 2.0  # step 7's value times the 2nd covariate of the last step
        expected = recurrent + x[:, 3, :1] + 2.0 * x[:, 7, :1] * x[:, -1, 2:3]
        assert torch.allclose(wide(x), expected, atol=1e-6)
        differenced = rnn_with_covariates(highway=True, difference=True)
        assert differenced.highway.in_features == 11 * 5


def test_a_series_alone_takes_the_highway_as_before():
    # One channel: the highway is the plain linear map of the window (the tests above).
    x = torch.randn(3, 12, 1)
    model = rnn(highway=True, difference=True)
    with torch.no_grad():
        window = torch.diff(x, dim=1)
        plain = rnn(difference=True)(x) + model.highway(window.flatten(1))
        assert torch.allclose(model(x), plain, atol=1e-6)
