"""What a task is: how to load its data once, and how a trial turns it into tensors.

Loading is split in two on purpose. `load` does the heavy part (parsing, cleaning,
splitting) once per search in the driver; its result travels to trials through the
Ray object store. `splits` does the cheap part that may depend on searched data
keys (window length, vocabulary size, augmentation) inside each trial.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Callable, ClassVar, Literal

import numpy as np
import torch
from pydantic import BaseModel, BeforeValidator, ConfigDict

from search.registry import Registry


def absolute(path: str | None) -> str | None:
    """A data path made absolute when the spec is read: trials run in folders of their
    own, where a path relative to the folder the search started in names nothing."""
    return None if path is None else str(Path(path).expanduser().resolve())


def _as_text(value: Any) -> Any:
    return [str(name) for name in value] if isinstance(value, list) else value


# Class names are text (folder names, a CSV's labels), but YAML reads `classes: [3, 5, 8]`
# as numbers: they are taken as the text they were written as.
ClassNames = Annotated[list[str], BeforeValidator(_as_text, json_schema_input_type=list[str | int | float])]


class TaskOptions(BaseModel):
    """Base of every task's `data:` section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class Splits:
    """What `Task.splits` returns: (inputs, targets) tensors for each split, and what the
    model and the metrics need to know about them.

    Attributes:
        train: Inputs and targets the trial trains on.
        val: Inputs and targets that select epochs and trials.
        test: Inputs and targets scored once, after the search, for the best trial.
        model_inputs: Keyword arguments the data fixes for the model (`input_size`,
            `num_classes`, ...), as `Task.model_inputs` gives them.
        class_names: Classification: the label names in label order.
        target_scale: Regression: scaled targets back to the series' units,
            `units = scaled * target_scale + target_offset`.
        target_offset: See `target_scale`.
        batch_transform: Applied to every batch of every split on the trial's device, before
            `train_transform`: the splits may stay compact (uint8 pixels).
        train_transform: Applied to training batches only (augmentation), or None.
        info: Anything else the task wants to hand to a trial.
    """

    train: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    # Keyword arguments the data fixes for the model (input_size, num_classes, ...).
    model_inputs: dict[str, Any]
    class_names: list[str] | None = None
    # Regression: scaled targets back to the series' units, units = scaled * scale + offset.
    target_scale: float = 1.0
    target_offset: float = 0.0
    # Applied to every batch of every split on the trial's device, before train_transform:
    # it lets the splits stay compact (uint8 pixels) and become model inputs batch by batch.
    batch_transform: Callable[[torch.Tensor], torch.Tensor] | None = None
    # Batch-level transform applied to training inputs only (augmentation), or None.
    train_transform: Callable[[torch.Tensor], torch.Tensor] | None = None
    info: dict[str, Any] = field(default_factory=dict)


class Task:
    """A task: how to load its data once per search, and how a trial turns it into tensors.

    Subclass it, give it a `kind`, an `Options` model (its `data:` keys) and the four methods
    `load`, `splits`, `model_inputs` and `example_input`; the rest are optional. A space
    names a task of yours as `module:Class` (`task: my_tasks:SalesTask`); a built-in one is
    registered by name with `register_task`.

    Attributes:
        name: The name a space gives in `task:` (a task of yours: its import path).
        aliases: Other names a space may give.
        kind: `classification` or `regression`.
        Options: The pydantic model of the space's `data:` keys (a `TaskOptions`).
        searchable: The `data:` keys a space may search; the rest are fixed when the data is
            loaded once per search.
    """

    name: ClassVar[str]
    # Other names a space may give in `task:` (the name written is the one shown and logged).
    aliases: ClassVar[tuple[str, ...]] = ()
    kind: ClassVar[Literal["classification", "regression"]]
    Options: ClassVar[type[TaskOptions]]
    # data keys a trial may vary (the rest are fixed when the data is loaded once).
    searchable: ClassVar[frozenset[str]] = frozenset()

    def load(self, options: TaskOptions, smoke: bool = False) -> Any:
        """Heavy, once per search in the driver: returns a picklable object."""
        raise NotImplementedError

    def splits(self, loaded: Any, options: TaskOptions) -> Splits:
        """Cheap, once per trial: tensors for train / val / test."""
        raise NotImplementedError

    def check(self, options: TaskOptions) -> None:
        """Cheap checks of the data the options name (a file's header, its label column),
        raising SpecError: run when a spec is validated, so --dry-run refuses what `load`
        would. Only the driver runs it; trials get their data from the object store."""

    def model_inputs(self, options: TaskOptions) -> dict[str, Any]:
        """What the data fixes for the model, known without loading (for --dry-run)."""
        raise NotImplementedError

    def example_input(self, options: TaskOptions) -> torch.Tensor:
        """One batch of one input, the shape `splits` would give (for the layer table)."""
        raise NotImplementedError

    def output_shape(self, options: TaskOptions) -> tuple[int, ...]:
        """The model's output for one example, without the batch dimension: a score per class
        (classification) or the values predicted (regression, `output_size` of them)."""
        inputs = self.model_inputs(options)
        return (inputs["num_classes"],) if self.kind == "classification" else (inputs["output_size"],)

    # --- outside a search: raw inputs in, predictions out (search.predict) ------------------
    def preprocessing(self, loaded: Any, options: TaskOptions) -> dict[str, Any]:
        """As JSON, what turns raw inputs into model inputs and outputs into predictions (a
        vocabulary, a scaler, an image size, the class names). Logged beside the best model."""
        return {}

    def encode_raw(self, preprocessing: dict[str, Any], raw: Any) -> torch.Tensor:
        """Raw inputs (texts, a series' recent values, images) as one batch of model inputs."""
        return torch.as_tensor(np.asarray(raw))

    def decode_outputs(self, preprocessing: dict[str, Any], outputs: torch.Tensor) -> list:
        """Model outputs as predictions: class names, or values in the target's own units."""
        if self.kind == "classification":
            names = preprocessing.get("class_names")
            labels = outputs.argmax(dim=1).tolist()
            return [names[i] for i in labels] if names else labels
        scale, offset = preprocessing.get("scale", 1.0), preprocessing.get("offset", 0.0)
        return (outputs.double().numpy() * scale + offset).tolist()

    def baselines(self, loaded: Any, options: TaskOptions) -> dict[str, float]:
        """Yardstick models on the test split, logged as baseline_<name>_<metric>."""
        return {}

    def class_names(self, loaded: Any) -> list[str] | None:
        """Classification: the label names in label order (axes of confusion matrices)."""
        return None

    def describe(self, loaded: Any) -> str:
        """One line about the loaded data for the console."""
        return ""


# Each task's module, imported on first use (add a line here with a new task).
TASKS: Registry[Task] = Registry("task", {
    "electricity": "search.data.electricity",
    "series": "search.data.electricity",
    "tweets": "search.data.tweets",
    "text": "search.data.tweets",
    "images": "search.data.images",
})


def register_task(cls: type[Task]) -> type[Task]:
    """Registers a built-in task class under its `name` and `aliases` (add its module to `TASKS`)."""
    task = cls()
    for name in (cls.name, *cls.aliases):
        TASKS.register(name)(task)
    return cls
