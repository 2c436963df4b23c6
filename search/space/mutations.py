"""Which keys population-based training may mutate (`search.scheduler.mutate`).

An exploit continues another trial's weights and optimizer state under perturbed values, so
only a value that can change under a running trial may mutate: the optimizer's learning
rate, weight decay and momentum (set on its parameter groups), the gradient clip and the
batch size (read at every step), and model options that leave every parameter's shape as
it is (a dropout rate: the network is built again around the same weights). Checked with
the spec, before anything starts.
"""

from __future__ import annotations

from typing import Any, Callable

from search.space.spec import FLOAT_DISTRIBUTIONS, Spec

# train.* keys that can change under a running trial: where each is applied.
MUTABLE_TRAIN_KEYS = ("train.lr", "train.weight_decay", "train.momentum", "train.grad_clip", "train.batch_size")
OPTIMIZER_GROUP_KEYS = ("lr", "weight_decay", "momentum")  # set on the optimizer's parameter groups


def mutation_keys(spec: Spec) -> list[str]:
    """search.scheduler.mutate, or by default the space's numeric train.* dimensions PBT can mutate."""
    given = spec.search.scheduler.mutate
    if given is not None:
        return list(given)
    return [key for key, dist in spec.space.items() if key in MUTABLE_TRAIN_KEYS and _numeric(dist)]


def _numeric(dist) -> bool:
    if dist.kind in (*FLOAT_DISTRIBUTIONS, "randint"):
        return True
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in dist.args)


def check_mutations(spec: Spec, fail: Callable[[str], Exception]) -> None:
    """Refuses, naming it, a key PBT cannot mutate; and an empty default."""
    keys = mutation_keys(spec)
    if not keys:
        raise fail("search.scheduler.mutate: the space has no numeric dimension among "
                   f"{', '.join(MUTABLE_TRAIN_KEYS)} for pbt to mutate; add one to the space, or name the keys")
    for key in keys:
        why = _why_not(spec, key)
        if why:
            raise fail(f"search.scheduler.mutate: {key} cannot mutate: {why}")


def _why_not(spec: Spec, key: str) -> str | None:
    section, _, option = key.partition(".")
    if key not in spec.space:
        return ("it is not a dimension of the space (pbt draws each mutation from the key's distribution "
                "in the space)")
    if key == "train.optimizer":
        return "it is the optimizer's kind, and another optimizer cannot take over its state"
    if section == "data":
        return "a trial's data is prepared once, when it starts"
    if section == "train" and key not in MUTABLE_TRAIN_KEYS:
        return (f"it is fixed for a trial's whole run; pbt mutates {', '.join(MUTABLE_TRAIN_KEYS)} and model "
                "options that keep every parameter's shape")
    if key == "train.lr":
        schedules = spec.space["train.lr_schedule"].args if "train.lr_schedule" in spec.space else []
        if spec.train.lr_schedule != "none" or spec.train.warmup_fraction or any(s != "none" for s in schedules):
            return "a learning-rate schedule (train.lr_schedule, train.warmup_fraction) sets the rate every epoch " \
                   "and would undo it; use lr_schedule none without warm-up"
    if section == "model":
        return _changes_shape(spec, option)
    return None


def _changes_shape(spec: Spec, option: str) -> str | None:
    """Why the option changes the network (its name, or a parameter's shape between the
    dimension's edge values), built on the task's inputs; None when every shape stays."""
    if option == "name":
        return "it changes the network itself"
    from search.data import get_task
    from search.models import create_model

    task = get_task(spec.task)
    inputs = task.model_inputs(task.Options(**spec.data))
    name, base = spec.model["name"], {k: v for k, v in spec.model.items() if k != "name"}
    values = spec.space[f"model.{option}"].edge_values()
    shapes: list[dict[str, Any]] = []
    for value in values:
        model = create_model(name, {**base, option: value}, inputs)
        shapes.append({key: tuple(tensor.shape) for key, tensor in model.state_dict().items()})
    for value, found in zip(values[1:], shapes[1:]):
        if found != shapes[0]:
            return (f"it changes the network's shape (its parameters differ between {option} {values[0]!r} "
                    f"and {value!r}), so another trial's weights would not fit")
    return None
