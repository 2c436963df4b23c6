"""Tasks: one file per dataset, each registered by name (`task:` in a space), or a user's
own `Task` subclass named `module:Class`."""

from __future__ import annotations

import inspect

from search.data.base import TASKS, Splits, Task, TaskOptions, register_task

from search.cluster.user_code import import_object, is_import_path
from search.errors import SpecError

__all__ = ["TASKS", "Splits", "Task", "TaskOptions", "register_task", "get_task"]

_USER_TASKS: dict[str, Task] = {}
KINDS = ("classification", "regression")


def get_task(name: str) -> Task:
    if not is_import_path(name):
        return TASKS.get(name, where="task")
    if name not in _USER_TASKS:
        _USER_TASKS[name] = user_task(name)
    return _USER_TASKS[name]


def user_task(path: str) -> Task:
    """A user's Task subclass, checked for what the platform relies on, as an instance."""
    found = import_object(path, "task")
    if not (inspect.isclass(found) and issubclass(found, Task)):
        raise SpecError(f"task: {path!r} is not a subclass of search.data.Task")
    if getattr(found, "kind", None) not in KINDS:
        raise SpecError(f"task: {path!r}: its kind must be one of {', '.join(KINDS)} "
                        f"(got {getattr(found, 'kind', None)!r})")
    options = getattr(found, "Options", None)
    if not (inspect.isclass(options) and issubclass(options, TaskOptions)):
        raise SpecError(f"task: {path!r}: its Options must be a subclass of search.data.TaskOptions "
                        "(the pydantic model of its data: keys)")
    for method in ("load", "splits", "model_inputs", "example_input"):
        if getattr(found, method) is getattr(Task, method):
            raise SpecError(f"task: {path!r} does not define {method}()")
    try:
        task = found()
    except Exception as err:  # noqa: BLE001 - the user's constructor
        raise SpecError(f"task: {path!r}: creating it failed: {type(err).__name__}: {err}") from None
    if not isinstance(getattr(found, "name", None), str):
        task.name = path
    return task
