"""Networks: one file per family, each registered by name (`model.name` in a space).

Models are plain nn.Modules with no training logic. A builder's keyword arguments
are the `model:` options a space may set or search; the arguments a task fixes
(input_size, num_classes, vocab_size, ...) come from the data, not the spec.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any, Callable

import pydantic
from torch import nn

from search.errors import SpecError
from search.registry import Registry

# Each model's module, imported on first use (add a line here with a new model file).
MODELS: Registry[Callable[..., nn.Module]] = Registry("model", {
    "simple_rnn": "search.models.simple_rnn",
    "lstm": "search.models.lstm",
    "bilstm": "search.models.lstm",
    "vgg13": "search.models.vgg13",
    "resnet18": "search.models.resnet18",
})

# A dropout rate as a builder option: a spec giving 1.5 fails at validation, not in a trial.
Probability = Annotated[float, pydantic.Field(ge=0.0, lt=1.0)]


def register_model(name: str):
    return MODELS.register(name)


def validate_model_options(name: str, options: dict[str, Any], data_inputs: dict[str, Any]) -> dict[str, Any]:
    """The `model:` options (without `name`) checked against the builder's signature and types.

    Returns every option with its default filled in, so the resolved config says it all.
    """
    builder = MODELS.get(name, where="model.name")
    # eval_str: builder modules use `from __future__ import annotations`, so annotations arrive
    # as strings ('Literal[...]') that pydantic cannot resolve from this module.
    signature = inspect.signature(builder, eval_str=True).parameters
    fields: dict[str, Any] = {}
    for key, param in signature.items():
        if key in data_inputs:
            continue
        if param.default is inspect.Parameter.empty:
            raise SpecError(f"model.name: model {name!r} does not fit this task: it needs {key!r}, "
                            "which this task's data does not provide")
        annotation = param.annotation if param.annotation is not inspect.Parameter.empty else Any
        fields[key] = (annotation, param.default)
    for key in options:
        if key in data_inputs:
            raise SpecError(f"model.{key}: set by the data for this task, not by the spec")
        if key not in fields:
            raise SpecError(f"model.{key}: unknown option of model {name!r}; allowed: {', '.join(fields)}")
    schema = pydantic.create_model(f"{name}_options", __config__=pydantic.ConfigDict(extra="forbid"), **fields)
    try:
        return schema(**options).model_dump()
    except pydantic.ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        raise SpecError(f"model.{key}: {first['msg']} (got {first.get('input')!r})") from None


def create_model(name: str, options: dict[str, Any], data_inputs: dict[str, Any]) -> nn.Module:
    builder = MODELS.get(name, where="model.name")
    wanted = {k: v for k, v in data_inputs.items() if k in inspect.signature(builder).parameters}
    return builder(**wanted, **options)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

