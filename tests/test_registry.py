"""Every name the registries list imports and builds; unknown names list the known ones."""

from __future__ import annotations

import pytest
from search.data import TASKS, get_task
from search.models import MODELS, create_model

from search.errors import SpecError


@pytest.mark.parametrize("name", TASKS.names())
def test_every_listed_task_loads_its_module(name):
    task = get_task(name)
    assert name in (task.name, *task.aliases) and task.kind in ("classification", "regression")


@pytest.mark.parametrize("alias, name", [("text", "tweets"), ("series", "electricity")])
def test_a_task_answers_to_its_second_name(alias, name):
    assert get_task(alias) is get_task(name)


@pytest.mark.parametrize("name", MODELS.names())
def test_every_listed_model_builds(name):
    inputs = {"simple_rnn": {"input_size": 1, "output_size": 1, "lookback": 24},
              "lstm": {"vocab_size": 50, "num_classes": 3, "pad_id": 0},
              "bilstm": {"vocab_size": 50, "num_classes": 3, "pad_id": 0},
              "vgg13": {"in_channels": 3, "num_classes": 3, "image_size": 32},
              "resnet18": {"in_channels": 3, "num_classes": 3}}[name]
    assert sum(p.numel() for p in create_model(name, {}, inputs).parameters()) > 0


def test_unknown_names_list_the_known_ones():
    with pytest.raises(SpecError, match="unknown task 'weather'; available: electricity, images, series, text, tweets"):
        get_task("weather")
    with pytest.raises(SpecError, match="unknown model 'mlp'; available: bilstm, lstm, resnet18, simple_rnn, vgg13"):
        MODELS.get("mlp")
