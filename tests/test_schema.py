"""The space file's JSON Schema (`python -m search.schema`): shipped, described, and agreeing with
the validation a search runs."""

from __future__ import annotations

import copy
import importlib.util
import json
import re

import pytest
import yaml
from jsonschema import Draft202012Validator

from search.errors import SpecError
from search.schema import DIALECT, SHIPPED, main, render, space_schema
from search.space.validation import validate_spec
from tests.helpers import REPO, SPACES

EXAMPLES = REPO / "docs" / "examples"
SHIPPED_SPACES = sorted(SPACES.glob("*.yaml")) + sorted(EXAMPLES.glob("*.yaml"))
SCHEMA_LINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$")


@pytest.fixture(scope="module")
def schema():
    return space_schema()


@pytest.fixture(scope="module")
def validator(schema):
    return Draft202012Validator(schema)


def test_the_shipped_schema_is_what_the_command_prints(capsys):
    assert main([]) == 0
    printed = capsys.readouterr().out
    assert printed == SHIPPED.read_text(encoding="utf-8"), (
        "spaces/space.schema.json is not what `python -m search.schema` prints: "
        "run `python -m search.schema --output spaces/space.schema.json`")


def test_output_writes_the_same_file(tmp_path, schema):
    target = tmp_path / "space.schema.json"
    assert main(["--output", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == render(schema)


def test_an_output_that_cannot_be_written_is_one_line(tmp_path, capsys):
    assert main(["--output", str(tmp_path / "no" / "such" / "folder" / "schema.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --output ") and err.count("\n") == 1


def test_it_is_a_valid_draft_2020_12_schema_with_a_title(schema):
    assert schema["$schema"] == DIALECT
    assert schema["title"] == "Space file"
    Draft202012Validator.check_schema(schema)


def _sections(schema):
    """Every section of the space file with its place: the top level, `model.name`'s, each definition."""
    yield "the top level", schema
    yield "model", schema["properties"]["model"]
    yield from ((f"$defs.{name}", definition) for name, definition in schema["$defs"].items())


def test_every_key_is_described(schema):
    undescribed = [f"{where}: {key}" for where, node in _sections(schema)
                   for key, field in node["properties"].items() if not field.get("description", "").strip()]
    assert undescribed == []


def test_no_section_takes_keys_it_does_not_know(schema):
    # As the validation: an unknown key anywhere is an error. Open are only `data:` and `model:`
    # of a user's own task or model, whose keys the schema cannot know.
    open_ = [where for where, node in _sections(schema) if node.get("additionalProperties") is not False]
    assert open_ == ["model"]
    assert schema["properties"]["data"]["additionalProperties"] is True


@pytest.mark.parametrize("path", SHIPPED_SPACES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_shipped_space_names_the_schema_and_keeps_it(path, validator):
    first = path.read_text(encoding="utf-8").splitlines()[0]
    match = SCHEMA_LINE.match(first)
    assert match, f"{path.name}: its first line should be `# yaml-language-server: $schema=...`"
    assert (path.parent / match.group(1)).resolve() == SHIPPED
    errors = sorted(validator.iter_errors(yaml.safe_load(path.read_text())), key=str)
    assert [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors] == []


def _errors(validator, raw) -> list[str]:
    """Every message of every failed keyword, nested ones (oneOf, if/then) included."""
    messages = []
    stack = list(validator.iter_errors(raw))
    while stack:
        error = stack.pop()
        messages.append(f"{'.'.join(map(str, error.absolute_path))}: {error.message}")
        stack.extend(error.context or [])
    return messages


def _misspell(raw, dotted: str, wrong: str):
    """A copy of `raw` with the key at `dotted` renamed to `wrong` (the same value)."""
    raw = copy.deepcopy(raw)
    *parents, key = dotted.split("/")
    node = raw
    for part in parents:
        node = node[part]
    node[wrong] = node.pop(key)
    return raw


@pytest.mark.parametrize(("space", "key", "wrong"), [
    ("rnn_units.yaml", "search", "serach"),
    ("rnn_units.yaml", "search/num_samples", "num_sampels"),
    ("rnn_units.yaml", "train/epochs", "epoch"),
    ("rnn_units.yaml", "search/scheduler/grace_period", "grace_peroid"),
    ("rnn_units.yaml", "data/lookback", "lookbak"),
    ("rnn_units.yaml", "model/hidden_size", "hidden_szie"),
    ("lstm_sentiment.yaml", "data/vocab_size", "vocab"),
    ("rnn_optimizers.yaml", "space/train.momentum/when", "whne"),
    ("rnn_optimizers.yaml", "space/train.lr/loguniform", "log_uniform"),
])
def test_a_misspelt_key_fails_the_schema_naming_it_as_the_validation_does(space, key, wrong, validator):
    raw = yaml.safe_load((SPACES / space).read_text())
    assert validator.is_valid(raw)
    misspelt = _misspell(raw, key, wrong)
    messages = _errors(validator, misspelt)
    assert any(repr(wrong) in message for message in messages), messages
    with pytest.raises(SpecError):  # and a search refuses it too
        validate_spec(misspelt, source=space)


def test_a_space_key_outside_data_model_and_train_fails(validator):
    raw = yaml.safe_load((SPACES / "rnn_units.yaml").read_text())
    raw["space"]["search.seed"] = {"choice": [0, 1]}
    assert any("search.seed" in message for message in _errors(validator, raw))


def test_a_dimension_takes_exactly_one_distribution(validator):
    raw = yaml.safe_load((SPACES / "rnn_units.yaml").read_text())
    raw["space"]["train.lr"] = {"uniform": [0.001, 0.01], "loguniform": [0.001, 0.01]}
    assert not validator.is_valid(raw)
    raw["space"]["train.lr"] = {"when": {"train.optimizer": ["sgd"]}}
    assert not validator.is_valid(raw)


# Specs a search accepts, written as the docs write them: the schema must accept them too.
DROP = "<drop the key>"
ACCEPTED = [
    {"search": {"budget": {"time": "1h30m", "trial_epochs": 400}}},
    {"search": {"budget": {"time": 90}}},
    {"search": {"warm_start": {"from": "rnn_units", "top_k": 0, "ignore_data": True}, "seed": 1}},
    {"search": {"metric": DROP, "mode": DROP,
                "objectives": [{"metric": "val_loss", "mode": "min"}, {"metric": "params", "mode": "min"}],
                "select": {"objective": "val_loss", "within": 0.02},
                "scheduler": {"name": "asha", "metric": "val_loss"}}},
    {"search": {"constraints": ["params <= 2e6", "latency_ms <= 5"]}},
    {"search": {"reevaluate": {"top_k": 2, "seeds": 2}, "refit": True, "resources": {"cpu": 0.5, "gpu": 0.25}}},
    {"search": {"algorithm": "random", "num_samples": 8,
                "scheduler": {"name": "pbt", "perturbation_interval": 2, "quantile": 0.25,
                              "mutate": ["train.lr", "train.weight_decay"]}},
     "space": {"train.lr": {"loguniform": [1.0e-4, 1.0e-2]},
               "train.weight_decay": {"choice": [0.0, 1.0e-5, 1.0e-4]}}},
    {"space": {"model.num_layers": {"randint": [1, 3]}, "data.lookback": {"grid": [24, 48]},
               "train.momentum": {"quniform": [0.5, 0.9, 0.1], "when": {"train.optimizer": ["sgd"]}},
               "train.optimizer": {"choice": ["adam", "sgd"]}}},
    {"train": {"lr_schedule": "onecycle", "warmup_fraction": 0.3, "grad_clip": 1.0, "patience": None},
     "tracking": {"uri": "sqlite:///mlflow.db", "experiment": "team", "outage_wait": 60}},
    {"model": {"name": "simple_rnn", "cell": "gru", "difference": True, "highway": True},
     "data": {"calendar": True, "season": 48}},
]


@pytest.mark.parametrize("change", ACCEPTED, ids=lambda change: json.dumps(change)[:60])
def test_what_a_search_accepts_the_schema_accepts(change, validator):
    raw = yaml.safe_load((SPACES / "rnn_units.yaml").read_text())
    for section, values in change.items():
        if section == "space":
            raw["space"] = values
        else:
            raw[section] = {key: value for key, value in {**raw.get(section, {}), **values}.items()
                            if value != DROP}
    validate_spec(raw, source="accepted")
    assert _errors(validator, raw) == []


def test_images_classes_may_be_written_as_numbers(validator):
    raw = yaml.safe_load((SPACES / "resnet18.yaml").read_text())
    assert raw["data"]["classes"] == [3, 5, 8]
    assert validator.is_valid(raw)


def test_the_space_reference_page_names_every_key(schema):
    hook = REPO / "docs" / "hooks" / "space_reference.py"
    spec = importlib.util.spec_from_file_location("space_reference", hook)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    page = module.render_reference(schema)
    keys = {key for _, node in _sections(schema) for key in node["properties"]}
    assert [key for key in sorted(keys) if f"| `{key}` |" not in page] == []
    for name in ("electricity", "tweets", "images"):
        assert f"`data` of `task: {name}`" in page
    for name in ("simple_rnn", "lstm", "bilstm", "vgg13", "resnet18"):
        assert f"`model` of `name: {name}`" in page
