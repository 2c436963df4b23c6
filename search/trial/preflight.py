"""A user's model or task, tried once on one example batch before anything starts.

Built-in models are known to fit their tasks (the tests build each); a `module:callable`
is not, and a builder that raises, a forward pass that fails or an output of the wrong
shape would otherwise fail every trial after Ray has started and MLflow runs exist.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from search.cluster.user_code import is_import_path, one_line
from search.data import get_task
from search.errors import SpecError
from search.models import create_model
from search.space.spec import Spec


def model_names(spec: Spec) -> list[str]:
    """The base config's model and every model.name the space may choose."""
    names = [spec.model["name"]]
    searched = spec.space.get("model.name")
    if searched is not None and searched.kind in ("choice", "grid"):
        names += [n for n in searched.args if n not in names]
    return names


def build_and_check(spec: Spec, name: str) -> tuple[nn.Module, torch.Tensor]:
    """The model `name` with the base config's options, and one example batch it accepted."""
    task = get_task(spec.task)
    options = task.Options(**spec.data)
    model_options = {k: v for k, v in spec.model.items() if k != "name"}
    where = f"model.name: {name!r}"
    try:
        model = create_model(name, model_options, task.model_inputs(options))
    except SpecError:
        raise
    except Exception as err:  # noqa: BLE001 - whatever the user's builder raises
        raise SpecError(f"{where}: building it with the base config failed: {one_line(err)}") from None
    example = task.example_input(options)
    try:
        model.eval()
        with torch.no_grad():
            out = model(example)
    except Exception as err:  # noqa: BLE001
        raise SpecError(f"{where}: its forward pass on one example batch of shape "
                        f"{list(example.shape)} failed: {one_line(err)}") from None
    expected = [example.shape[0], *task.output_shape(options)]
    if not isinstance(out, torch.Tensor):
        raise SpecError(f"{where}: its forward pass returned a {type(out).__name__}; "
                        f"the {task.name} task needs a tensor of shape {expected}")
    if list(out.shape) != expected:
        raise SpecError(f"{where}: returns shape {list(out.shape)} for one example batch of shape "
                        f"{list(example.shape)}; the {task.name} task needs {expected} "
                        f"({_what(task.kind)})")
    return model, example


def _what(kind: str) -> str:
    return "a score per class" if kind == "classification" else "the values predicted per example"


def check_user_code(spec: Spec) -> None:
    """Every model the search may build, tried once, where the model or the task is the user's."""
    user_task = is_import_path(spec.task)
    for name in model_names(spec):
        if user_task or is_import_path(name):
            build_and_check(spec, name)


def user_import_paths(spec: Spec) -> list[str]:
    """The `module:callable` names a search uses: what its workers must be able to import."""
    names: list[Any] = [spec.task, *model_names(spec)]
    return [name for name in dict.fromkeys(names) if is_import_path(name)]
