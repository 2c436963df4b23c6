"""Tasks: one file per dataset, each registered by name (`task:` in a space)."""

from search.data.base import TASKS, Splits, Task, register_task

__all__ = ["TASKS", "Splits", "Task", "register_task", "get_task"]


def get_task(name: str) -> Task:
    return TASKS.get(name, where="task")
