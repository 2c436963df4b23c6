"""Networks: one file per family, each registered by name (`model.name` in a space).

Models are plain nn.Modules with no training logic. A builder's keyword arguments
are the `model:` options a space may set or search; the arguments a task fixes
(input_size, num_classes, vocab_size, ...) come from the data, not the spec.
`model.name` is a registered name or a user's own `module:callable` (a function
returning an nn.Module, or an nn.Module class): both are checked the same way.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any, Callable

import pydantic
from torch import nn

from search.cluster.user_code import import_object, is_import_path
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
    """Registers a built-in model under `name`, the `model.name` a space gives.

    Decorates a function that returns a plain `nn.Module`: its keyword arguments with
    defaults are the `model:` options a space may set and search (checked against their
    annotations), and its arguments without defaults are filled from the data.

        @register_model("tiny_gru")
        def tiny_gru(input_size: int, output_size: int, hidden: int = 32) -> nn.Module: ...

    A network of your own needs no registration: name it `module:callable` in the space.
    """
    return MODELS.register(name)


def get_builder(name: str) -> Callable[..., nn.Module]:
    """A registered model, or a user's `module:callable` (a function or an nn.Module class)."""
    if not is_import_path(name):
        return MODELS.get(name, where="model.name")
    builder = import_object(name, "model.name")
    if inspect.isclass(builder) and not issubclass(builder, nn.Module):
        raise SpecError(f"model.name: {name!r} is a class but not a torch.nn.Module")
    return builder


def builder_parameters(name: str, builder: Callable) -> dict[str, inspect.Parameter]:
    """The builder's keyword arguments (a class: its __init__'s), annotations resolved."""
    try:
        # eval_str: builder modules use `from __future__ import annotations`, so annotations
        # arrive as strings ('Literal[...]') that pydantic cannot resolve from this module.
        signature = inspect.signature(builder, eval_str=True)
    except (NameError, TypeError, SyntaxError, AttributeError):
        signature = inspect.signature(builder)  # an annotation that names something undefined
    except ValueError as err:
        raise SpecError(f"model.name: {name!r}: its signature cannot be read ({err})") from None
    return {key: param for key, param in signature.parameters.items()
            if param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD)}


def validate_model_options(name: str, options: dict[str, Any], data_inputs: dict[str, Any]) -> dict[str, Any]:
    """The `model:` options (without `name`) checked against the builder's signature and types.

    Returns every option with its default filled in, so the resolved config says it all.
    """
    builder = get_builder(name)
    fields: dict[str, Any] = {}
    for key, param in builder_parameters(name, builder).items():
        if key in data_inputs:
            continue
        if param.default is inspect.Parameter.empty:
            filled = ", ".join(data_inputs) or "nothing"
            raise SpecError(f"model.name: {name!r} needs {key!r}, which this task does not fill "
                            f"(it fills {filled}); give {key!r} a default to make it an option")
        annotation = param.annotation
        if annotation is inspect.Parameter.empty or isinstance(annotation, str):
            annotation = Any  # unannotated, or an annotation that could not be resolved
        fields[key] = (annotation, param.default)
    for key in options:
        if key in data_inputs:
            raise SpecError(f"model.{key}: set by the data for this task, not by the spec")
        if key not in fields:
            allowed = ", ".join(fields) or "none"
            raise SpecError(f"model.{key}: unknown option of model {name!r}; allowed: {allowed}")
    try:
        config = pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=True)
        schema = pydantic.create_model(f"{name}_options", __config__=config, **fields)
    except (pydantic.PydanticUserError, TypeError) as err:
        raise SpecError(f"model.name: {name!r}: its annotations cannot be checked ({err})") from None
    try:
        return schema(**options).model_dump()
    except pydantic.ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        raise SpecError(f"model.{key}: {first['msg']} (got {first.get('input')!r})") from None


def create_model(name: str, options: dict[str, Any], data_inputs: dict[str, Any]) -> nn.Module:
    builder = get_builder(name)
    wanted = {k: v for k, v in data_inputs.items() if k in builder_parameters(name, builder)}
    model = builder(**wanted, **options)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model {name!r} returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
