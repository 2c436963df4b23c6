"""A space file (spaces/*.yaml) parsed and checked into a typed Spec.

Everything a user can get wrong is caught here, before Ray starts or MLflow is
touched, and reported as one SpecError line naming the file, the key and what is
allowed. Unknown keys are errors at every level, also through --set.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal, Optional

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer, model_validator

from search.errors import SpecError
from search.record import COSTS
from search.space import conditions
from search.space.durations import parse_duration

SEARCHABLE_SECTIONS = ("data", "model", "train")
# The most trials one search may ask for (grid dimensions multiply num_samples). Ray Tune
# keeps every trial in the driver's memory and MLflow gets a run per trial: a search far
# beyond this is a typo (--num-samples 1000000000), not a plan.
MAX_TRIALS = 10_000
# Distributions whose values are floats (Ray Tune's quniform too: 64.0, not 64).
FLOAT_DISTRIBUTIONS = ("uniform", "loguniform", "quniform")
# Each scheduler's own keys: another scheduler's are refused rather than ignored.
SCHEDULER_KEYS = {"asha": ("grace_period", "reduction_factor"),
                  "successive_halving": ("grace_period", "reduction_factor"),
                  "pbt": ("perturbation_interval", "quantile", "mutate")}
ASHA_KEYS_OWNERS = ("asha", "successive_halving")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrainSettings(Strict):
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(64, ge=1)
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop", "adagrad"] = "adam"
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.9, ge=0, lt=1)  # sgd and rmsprop only
    patience: Optional[int] = Field(3, ge=1)  # epochs without val_loss improvement; null = off
    grad_clip: Optional[float] = Field(None, gt=0)  # max gradient norm; null = off
    class_weights: bool = False  # classification: weight the loss by inverse class frequency
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16 autocast, on CUDA only
    # torch.compile of the forward pass and loss; reduce-overhead adds CUDA graphs (README)
    compile: Literal["none", "default", "reduce-overhead"] = "none"
    seed: int = 0
    # The learning rate over the epochs (search/trial/schedules.py): none | cosine | plateau | onecycle.
    lr_schedule: Literal["none", "cosine", "plateau", "onecycle"] = "none"
    # Share of the epochs spent rising linearly from lr/25 to lr; null = none, onecycle 0.3.
    warmup_fraction: Optional[float] = Field(None, ge=0, lt=1)
    plateau_factor: float = Field(0.5, gt=0, lt=1)  # plateau: lr x factor when val_loss stalls
    plateau_patience: int = Field(1, ge=0)  # plateau: epochs without a lower val_loss first

    def warmup_epochs(self) -> int:
        """Whole epochs of warm-up (the schedule steps once per epoch); onecycle uses the fraction."""
        return round((self.warmup_fraction or 0.0) * self.epochs)

    @model_validator(mode="after")
    def _schedule_fits(self):
        if self.lr_schedule != "onecycle" and self.warmup_epochs() >= self.epochs:
            raise ValueError(f"warmup_fraction {self.warmup_fraction} of {self.epochs} epochs leaves "
                             "no epoch after the warm-up")
        if self.lr_schedule == "plateau" and self.patience is not None \
                and self.plateau_patience + 1 >= self.patience:
            # ReduceLROnPlateau lowers the lr after plateau_patience + 1 stalled epochs; early
            # stopping ends the trial after `patience`: the lowered lr must get an epoch.
            raise ValueError(f"patience {self.patience} ends the trial before the plateau schedule "
                             f"lowers the lr (after plateau_patience + 1 = {self.plateau_patience + 1} "
                             f"epochs without a lower val_loss): give patience at least "
                             f"{self.plateau_patience + 2}, a smaller plateau_patience, or patience null")
        return self


class SchedulerSettings(Strict):
    # asha: asynchronous successive halving (each trial judged at a rung against those that
    # reached it before). successive_halving: synchronous; a trial waits (paused) at each rung
    # until its bracket has reached it, so few trials at once still compare whole rungs.
    # pbt: population-based training (search/tuning/pbt.py).
    name: Literal["asha", "successive_halving", "pbt", "none"] = "asha"
    grace_period: int = Field(1, ge=1)  # the first rung, in epochs
    reduction_factor: float = Field(2, gt=1)  # 1/reduction_factor of a rung goes on
    perturbation_interval: int = Field(2, ge=1)  # pbt: epochs between a trial's exploit decisions
    quantile: float = Field(0.25, gt=0, le=0.5)  # pbt: the bottom share copies the top share
    mutate: Optional[list[str]] = Field(None, min_length=1)  # pbt: space keys; null = its numeric train.* ones
    # With several search.objectives: the one the scheduler judges (it compares one number).
    metric: Optional[str] = None

    @model_serializer(mode="wrap")
    def _own_settings(self, handler) -> dict[str, Any]:
        # Written back with the settings of the scheduler named only (so valid again as written).
        data = handler(self)
        for key in SCHEDULER_KEYS["asha"] if self.name == "pbt" else SCHEDULER_KEYS["pbt"]:
            data.pop(key, None)
        return data


class ReevaluateSettings(Strict):
    """After the search: the top_k configurations trained again on `seeds` fresh seeds each."""

    top_k: int = Field(3, ge=1)
    seeds: int = Field(3, ge=2)  # a mean and a spread need two


class BudgetSettings(Strict):
    """When the search stops: no trial starts once either is spent, and running trials stop at
    the end of their epoch (search/tuning/budget.py)."""

    time: Optional[float] = None  # seconds from the first trial's start; YAML: 90s, 15m, 2h, 1h30m
    trial_epochs: Optional[int] = Field(None, ge=1)  # epochs trained, all trials together

    @field_validator("time", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)

    @model_validator(mode="after")
    def _something_to_spend(self):
        if self.time is None and self.trial_epochs is None:
            raise ValueError("give time (a duration: 90s, 15m, 2h, 1h30m), trial_epochs, or both")
        return self


class WarmStartSettings(Strict):
    """An earlier search's trials: told to the searcher, its best run again first (search/tuning/warm_start.py)."""

    # `from` is a Python keyword: the field has another name and takes and writes `from`.
    model_config = ConfigDict(extra="forbid", serialize_by_alias=True)

    source: str = Field(alias="from", min_length=1)  # an experiment (its latest finished search) or a search run id
    top_k: int = Field(3, ge=0)  # the earlier best configurations trained again, first
    ignore_data: bool = False  # accept a source that trained on other data (another digest)


class ResourceSettings(Strict):
    cpu: float = Field(1, gt=0)
    gpu: float = Field(0, ge=0)

    @model_validator(mode="after")
    def _whole_gpus_above_one(self):
        if self.gpu > 1 and self.gpu != int(self.gpu):
            raise ValueError("a gpu share above 1 must be a whole number")
        return self


class Objective(Strict):
    metric: str
    mode: Literal["min", "max"]


class SelectSettings(Strict):
    """Which member of the Pareto front is exported: among the members within `within` (a
    share: 0.02 is 2%) of the front's best on `objective`, the best on the other objectives."""

    objective: str
    within: float = Field(0.0, ge=0)


class SearchSettings(Strict):
    metric: str = "val_loss"
    mode: Literal["min", "max"] = "min"
    # 1 to 3 {metric, mode}, in place of metric/mode; two or three make a Pareto front. Each
    # trial is represented by its best epoch on the first objective that training changes:
    # metric/mode then hold that one (see _objectives_replace_metric).
    objectives: Optional[list[Objective]] = Field(None, min_length=1, max_length=3)
    select: Optional[SelectSettings] = None  # which front member is exported; null = best on the first
    # Limits every trial must keep, "<metric> <operator> <number>" (search/space/constraints.py).
    constraints: list[str] = []
    algorithm: Literal["optuna", "random", "grid"] = "optuna"
    num_samples: int = Field(12, ge=1)  # trials; for grid, repeats of the whole grid
    max_concurrent: int = Field(2, ge=1)
    seed: int = 0  # the searcher's seed (Optuna's TPE, random sampling)
    scheduler: SchedulerSettings = SchedulerSettings()
    reevaluate: Optional[ReevaluateSettings] = None  # null = off
    budget: Optional[BudgetSettings] = None  # null = num_samples trials, however long they take
    warm_start: Optional[WarmStartSettings] = None  # null = a search that starts from nothing
    resources: ResourceSettings = ResourceSettings()
    storage: Optional[str] = None  # Ray Tune results; null = ./ray_results
    max_failures: int = Field(0, ge=0)  # retries of a crashed trial from its last checkpoint
    fail_fast: bool = False  # stop the whole search at the first failed trial
    # The winner trained again on train + validation, the model shipped (search/tuning/refit.py).
    refit: bool = False

    @model_validator(mode="after")
    def _objectives_replace_metric(self):
        """With objectives, metric/mode become the objective that picks each trial's epoch (its
        checkpoint, the one evaluated): the first one that training changes. Costs are the
        same at every epoch, so they cannot pick one. One objective is metric/mode itself."""
        if self.objectives is None:
            return self
        given = sorted({"metric", "mode"} & self.model_fields_set)
        if given:
            raise ValueError(f"objectives replace metric and mode: give one or the other (got objectives "
                             f"and {' and '.join(given)})")
        metrics = [objective.metric for objective in self.objectives]
        if len(set(metrics)) < len(metrics):
            raise ValueError(f"objectives: each metric once (got {', '.join(metrics)})")
        trained = [objective for objective in self.objectives if objective.metric not in COSTS]
        if not trained:
            raise ValueError(f"objectives: {', '.join(metrics)} are all costs, the same at every epoch: add a "
                             "metric that training changes (val_loss, val_acc, ...)")
        self.metric, self.mode = trained[0].metric, trained[0].mode
        if len(self.objectives) == 1:
            self.objectives = None  # the same as metric/mode
        return self

    @model_serializer(mode="wrap")
    def _without_derived_metric(self, handler) -> dict[str, Any]:
        # Written back as given: objectives alone (metric/mode were derived from them).
        data = handler(self)
        if self.objectives is not None:
            data.pop("metric", None)
            data.pop("mode", None)
        return data

    @property
    def objective_list(self) -> list[Objective]:
        """Every objective, first to last (one: metric/mode)."""
        return list(self.objectives) if self.objectives else [Objective(metric=self.metric, mode=self.mode)]


class TrackingSettings(Strict):
    uri: str = "sqlite:///mlflow.db"
    experiment: Optional[str] = None  # null = the space's name
    # Seconds a finished search waits for an unreachable MLflow to take its record (exit 3 after).
    outage_wait: float = Field(600, ge=0)


class Distribution(Strict):
    """One search dimension: exactly one of these keys, and `when` for a dimension that
    exists only under other dimensions' values (search/space/conditions.py)."""

    choice: Optional[list[Any]] = None
    grid: Optional[list[Any]] = None
    uniform: Optional[tuple[float, float]] = None
    loguniform: Optional[tuple[float, float]] = None
    randint: Optional[tuple[int, int]] = None  # [low, high], both included
    quniform: Optional[tuple[float, float, float]] = None  # [low, high, q]
    # {choice key: [values]}: searched only in trials where every named key holds one of its values.
    when: Optional[dict[str, list[Any]]] = None

    @model_validator(mode="after")
    def _exactly_one(self):
        given = [k for k, v in self.__dict__.items() if v is not None and k != "when"]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of choice, grid, uniform, loguniform, randint, quniform"
                + (f" (got {', '.join(given)})" if given else "")
            )
        kind, value = given[0], getattr(self, given[0])
        if kind in ("choice", "grid") and not value:
            raise ValueError(f"{kind} needs at least one value")
        if kind in ("uniform", "loguniform", "randint", "quniform"):
            low, high = value[0], value[1]
            if low > high or (low == high and kind != "randint"):
                raise ValueError(f"{kind} low {low} must be below high {high}")
            if kind == "loguniform" and low <= 0:
                raise ValueError(f"loguniform needs low above 0 (got {low})")
            if kind == "quniform" and value[2] <= 0:
                raise ValueError(f"quniform needs q above 0 (got {value[2]})")
        if self.when is not None:
            if not self.when:
                raise ValueError("when needs at least one condition: {choice key: [values]}")
            for target, allowed in self.when.items():
                if not allowed:
                    raise ValueError(f"when.{target} needs at least one value")
        return self

    @model_serializer
    def _as_written(self) -> dict[str, Any]:
        written: dict[str, Any] = {self.kind: list(self.args)}
        if self.when:
            written["when"] = {target: list(allowed) for target, allowed in self.when.items()}
        return written

    @property
    def kind(self) -> str:
        return next(k for k, v in self.__dict__.items() if v is not None and k != "when")

    @property
    def args(self) -> Any:
        return getattr(self, self.kind)

    def edge_values(self) -> list[Any]:
        """Values whose validity stands for the whole dimension (all choices, the bounds)."""
        if self.kind in ("choice", "grid"):
            return list(self.args)
        return [self.args[0], self.args[1]]

    def describe(self) -> str:
        text = f"{self.kind} {list(self.args)}"
        return f"{text}, when {conditions.describe_when(self.when)}" if self.when else text


class Spec(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    task: str
    data: dict[str, Any] = {}
    model: dict[str, Any]
    train: TrainSettings = TrainSettings()
    search: SearchSettings = SearchSettings()
    space: dict[str, Distribution] = {}
    tracking: TrackingSettings = TrackingSettings()
    # Where the spec came from, for messages and the MLflow artifact (not a YAML key).
    source: str = Field("<spec>", exclude=True)

    @property
    def experiment(self) -> str:
        return self.tracking.experiment or self.name

    @property
    def kind(self) -> str:
        from search.data import get_task

        return get_task(self.task).kind

    def base_config(self) -> dict[str, Any]:
        """The resolved config every trial starts from; a trial replaces the searched keys."""
        return {
            "data": copy.deepcopy(self.data),
            "model": copy.deepcopy(self.model),
            "train": self.train.model_dump(),
        }


def _first_error(err: pydantic.ValidationError) -> tuple[str, str, Any]:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"] if not str(p).startswith("function-after"))
    message = first["msg"].removeprefix("Value error, ")
    return loc, message, first.get("input")


def _describe(loc: str, message: str, value: Any) -> str:
    if message.startswith("Extra inputs are not permitted"):
        return f"{loc}: unknown key"
    if message == "Field required":
        return f"{loc}: missing (required)"
    shown = "" if isinstance(value, dict) or repr(value) in message else f" (got {value!r})"
    return f"{loc}: {message}{shown}"


class DuplicateKey(yaml.YAMLError):
    def __init__(self, key: str, first: yaml.Mark, second: yaml.Mark):
        def place(mark: yaml.Mark) -> str:
            column = f", column {mark.column + 1}" if first.line == second.line else ""
            return f"line {mark.line + 1}{column}"

        super().__init__(f"duplicate key {key!r} at {place(second)} (first at {place(first)}); "
                         "YAML would silently keep only the last")


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping.

    YAML keeps the last of two equal keys without a word, so `lr: 0.1` further down a
    file would silently undo `lr: 0.001` above it. The check walks the composed nodes
    before they become Python objects: only there are the keys' lines known.
    """

    def construct_document(self, node):
        _refuse_duplicate_keys(node, "", set())
        return super().construct_document(node)


def _refuse_duplicate_keys(node: yaml.Node, where: str, visited: set[int]) -> None:
    if id(node) in visited:  # an alias repeats a node already checked (and may be recursive)
        return
    visited.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first_marks: dict[tuple[str, str], yaml.Mark] = {}
        for key_node, value_node in node.value:
            name = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
            # A merge key (<<) brings keys that explicit ones may override: not a duplicate.
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                identity = (key_node.tag, name)
                if identity in first_marks:
                    raise DuplicateKey(f"{where}{name}", first_marks[identity], key_node.start_mark)
                first_marks[identity] = key_node.start_mark
            _refuse_duplicate_keys(value_node, f"{where}{name}.", visited)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _refuse_duplicate_keys(item, f"{where.rstrip('.')}[{index}].", visited)


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: no such spec file")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise SpecError(f"{path}: not UTF-8 text: byte 0x{data[err.start]:02x} at line {line} "
                        f"(byte offset {err.start}); save the file as UTF-8") from None
    try:
        raw = yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader: no Python objects
    except DuplicateKey as err:
        raise SpecError(f"{path}: {err}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise SpecError(f"{path}: broken YAML: {where}{problem}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: a spec must be a mapping of keys (name, task, data, model, ...)")
    return raw


def apply_overrides(raw: dict[str, Any], overrides: list[str], source: str) -> dict[str, Any]:
    """--set KEY=VALUE on the raw spec; VALUE is read as YAML (3, 1e-3, true, [a, b])."""
    raw = copy.deepcopy(raw)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise SpecError(f"--set {item!r}: expected KEY=VALUE, for example train.epochs=3")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise SpecError(f"--set {key}: value {text!r} is not valid YAML") from None
        parts = key.split(".")
        if parts[0] == "space" and len(parts) > 1:
            # Space keys are themselves dotted paths (section.option): space.train.lr sets the
            # key "train.lr", and space.train.momentum.when that dimension's `when`.
            parts = ["space", ".".join(parts[1:3]), *parts[3:]]
        node = raw
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise SpecError(f"--set {key}: {where} is a value, not a section")
            node = child
        node[parts[-1]] = value
    return raw
