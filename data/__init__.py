"""Tasks: one file per dataset, each registered by name (`task:` in a space)."""

from data.base import TASKS, Splits, Task, register_task

# Importing a task module registers it.
from data import electricity  # noqa: E402,F401
from data import images  # noqa: E402,F401
from data import tweets  # noqa: E402,F401

__all__ = ["TASKS", "Splits", "Task", "register_task", "get_task"]


def get_task(name: str) -> Task:
    return TASKS.get(name, where="task")
