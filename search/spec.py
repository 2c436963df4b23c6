"""A space file (spaces/*.yaml) parsed and checked into a typed Spec.

Everything a user can get wrong is caught here, before Ray starts or MLflow is
touched, and reported as one SpecError line naming the file, the key and what is
allowed. Unknown keys are errors at every level, also through --set.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any, Literal, Optional

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer, model_validator

from search import conditions
from search.durations import parse_duration
from search.errors import SpecError
from search.record import EPOCH_METRICS

SEARCHABLE_SECTIONS = ("data", "model", "train")
# The most trials one search may ask for (grid dimensions multiply num_samples). Ray Tune
# keeps every trial in the driver's memory and MLflow gets a run per trial: a search far
# beyond this is a typo (--num-samples 1000000000), not a plan.
MAX_TRIALS = 10_000
# Distributions whose values are floats (Ray Tune's quniform too: 64.0, not 64).
FLOAT_DISTRIBUTIONS = ("uniform", "loguniform", "quniform")


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
    # The learning rate over the epochs (search/schedules.py): none | cosine | plateau | onecycle.
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
    name: Literal["asha", "successive_halving", "none"] = "asha"
    grace_period: int = Field(1, ge=1)  # the first rung, in epochs
    reduction_factor: float = Field(2, gt=1)  # 1/reduction_factor of a rung goes on


class ReevaluateSettings(Strict):
    """After the search: the top_k configurations trained again on `seeds` fresh seeds each."""

    top_k: int = Field(3, ge=1)
    seeds: int = Field(3, ge=2)  # a mean and a spread need two


class BudgetSettings(Strict):
    """When the search stops: no trial starts once either is spent, and running trials stop at
    the end of their epoch (search/budget.py)."""

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
    """An earlier search's trials: told to the searcher, its best run again first (search/warm_start.py)."""

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


class SearchSettings(Strict):
    metric: str = "val_loss"
    mode: Literal["min", "max"] = "min"
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
    # The winner trained again on train + validation, the model shipped (search/refit.py).
    refit: bool = False


class TrackingSettings(Strict):
    uri: str = "sqlite:///mlflow.db"
    experiment: Optional[str] = None  # null = the space's name
    # Seconds a finished search waits for an unreachable MLflow to take its record (exit 3 after).
    outage_wait: float = Field(600, ge=0)


class Distribution(Strict):
    """One search dimension: exactly one of these keys, and `when` for a dimension that
    exists only under other dimensions' values (search/conditions.py)."""

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


def validate_spec(raw: dict[str, Any], source: str = "<spec>") -> Spec:
    from search.data import get_task
    from search.models import validate_model_options

    def fail(message: str) -> SpecError:
        return SpecError(f"{source}: {message}")

    try:
        spec = Spec(**raw, source=source)
    except pydantic.ValidationError as err:
        raise fail(_describe(*_first_error(err))) from None
    except TypeError as err:  # a non-string top-level key
        raise fail(str(err)) from None

    try:
        task = get_task(spec.task)
        data = _validate_task_options(task, spec.data)
        model = dict(spec.model)
        if "name" not in model:
            raise SpecError("model.name: missing (required); available: " + _model_names())
        name = model.pop("name")
        data_inputs = task.model_inputs(task.Options(**data))
        model = {"name": name, **validate_model_options(name, model, data_inputs)}
    except SpecError as err:
        raise fail(str(err)) from None
    spec = spec.model_copy(update={"data": data, "model": model})

    allowed_metrics = EPOCH_METRICS[task.kind]
    if spec.search.metric not in allowed_metrics:
        raise fail(f"search.metric: {spec.search.metric!r} is not reported by a {task.kind} task; "
                   f"allowed: {', '.join(allowed_metrics)}")
    scheduler = spec.search.scheduler
    if scheduler.name != "none" and scheduler.grace_period > spec.train.epochs:
        raise fail(f"search.scheduler.grace_period: {scheduler.grace_period} is above "
                   f"train.epochs {spec.train.epochs} (the scheduler's max_t)")
    if scheduler.name == "successive_halving":
        if scheduler.reduction_factor != int(scheduler.reduction_factor):
            raise fail(f"search.scheduler.reduction_factor: successive_halving takes a whole number "
                       f"(got {scheduler.reduction_factor})")
        if spec.search.algorithm != "optuna":
            raise fail(f"search.scheduler.name: successive_halving needs search.algorithm optuna (got "
                       f"{spec.search.algorithm}): Ray's variant generator cannot be told of paused trials")
    wrong = conditions.condition_error(spec.space)
    if wrong:
        raise fail(wrong)
    trials = trial_count(spec)
    if trials > MAX_TRIALS:
        grid = f" ({trials:,} with the grid's combinations)" if trials != spec.search.num_samples else ""
        raise fail(f"search.num_samples: {spec.search.num_samples:,}{grid} trials is above the ceiling of "
                   f"{MAX_TRIALS:,} trials per search")
    _check_warm_start(spec, fail)
    for key, dist in spec.space.items():
        _check_dimension(spec, task, key, dist, fail)
    if spec.search.algorithm == "grid":
        continuous = [k for k, d in spec.space.items() if d.kind not in ("choice", "grid")]
        if continuous:
            raise fail(f"space.{continuous[0]}: search.algorithm grid takes only choice or grid "
                       f"dimensions (got {spec.space[continuous[0]].kind})")
    return spec


def _check_warm_start(spec: Spec, fail) -> None:
    warm = spec.search.warm_start
    if warm is None:
        return
    if spec.search.algorithm == "grid":
        raise fail("search.warm_start: a grid search runs every combination whatever an earlier search "
                   "found; warm starts need search.algorithm optuna (told the earlier results) or random "
                   "(the earlier best run first)")
    if warm.top_k > spec.search.num_samples:
        raise fail(f"search.warm_start.top_k: {warm.top_k} earlier configurations to run again do not fit "
                   f"in search.num_samples {spec.search.num_samples} trials")


def enumerated_keys(spec: Spec) -> set[str]:
    """The dimensions whose every value a pass over the space takes (the rest are sampled)."""
    return {key for key, d in spec.space.items()
            if d.kind == "grid" or (d.kind == "choice" and spec.search.algorithm == "grid")}


def trial_count(spec: Spec) -> int:
    """How many trials the whole search makes (grid dimensions multiply the samples; under
    `when:` only their active combinations do)."""
    if spec.search.algorithm == "optuna":
        return spec.search.num_samples
    enumerated = enumerated_keys(spec)
    if not conditions.is_conditional(spec.space):
        return spec.search.num_samples * math.prod(len(spec.space[key].args) for key in enumerated)
    if spec.search.algorithm == "grid":
        return spec.search.num_samples * conditions.count_grid(spec.space)
    if not enumerated:
        return spec.search.num_samples
    # Random search over grid dimensions under conditions: how many combinations a draw has
    # may hang on the values drawn, so the seeded draws are made (and counted, up to the ceiling).
    from search.space import conditional_variants

    count = 0
    for _ in conditional_variants(spec, limit=MAX_TRIALS + 1):
        count += 1
    return count


def describe_trial_epochs(spec: Spec) -> str:
    """The most epochs the search may train, all trials together, said before it starts."""
    trials, epochs = trial_count(spec), spec.train.epochs
    text = f"at most {trials:,} trials x {epochs} epochs"
    total = trials * epochs
    again = spec.search.reevaluate
    if again is not None:
        top_k = min(again.top_k, trials)
        text += f" + re-evaluation {top_k} x {again.seeds} seeds x {epochs} epochs"
        total += top_k * again.seeds * epochs
    text = f"{text} = {total:,} trial-epochs"
    if spec.search.algorithm == "grid" and conditions.is_conditional(spec.space):
        every = math.prod(len(d.args) for d in spec.space.values())
        combinations = trials // spec.search.num_samples
        text += f" (the grid: {combinations:,} active combinations of the {every:,} in its product)"
    budget = spec.search.budget
    if budget is not None:
        text += f"; budget: {describe_budget(budget)}"
    return text


def describe_budget(budget: BudgetSettings) -> str:
    from search.durations import format_duration

    given = []
    if budget.time is not None:
        given.append(f"{format_duration(budget.time)} from the first trial's start")
    if budget.trial_epochs is not None:
        given.append(f"{budget.trial_epochs:,} trial-epochs")
    return " or ".join(given) + (", whichever is spent first" if len(given) > 1 else "")


def _model_names() -> str:
    from search.models import MODELS

    return ", ".join(MODELS.names())


def _validate_task_options(task, data: dict[str, Any]) -> dict[str, Any]:
    try:
        options = task.Options(**data)
    except pydantic.ValidationError as err:
        loc, message, value = _first_error(err)
        # A check across several keys has no single key: name the section.
        raise SpecError(_describe(f"data.{loc}" if loc else "data", message, value)) from None
    task.check(options)
    return options.model_dump()


def _check_dimension(spec: Spec, task, key: str, dist: Distribution, fail) -> None:
    section, _, option = key.partition(".")
    if section not in SEARCHABLE_SECTIONS or not option:
        raise fail(f"space.{key}: a space key is a dotted path into "
                   f"{', '.join(SEARCHABLE_SECTIONS)} (for example train.lr)")
    if key == "model.name":
        pass  # searching over networks is allowed: each value is checked below
    elif section == "data":
        if option not in task.Options.model_fields:
            raise fail(f"space.{key}: unknown key data.{option} of task {spec.task!r}; "
                       f"allowed: {', '.join(task.Options.model_fields)}")
        if option not in task.searchable:
            searchable = ", ".join(sorted(task.searchable)) or "none"
            raise fail(f"space.{key}: data.{option} is fixed when the data is loaded once per "
                       f"search and cannot be searched; searchable data keys: {searchable}")
    elif section == "train" and option not in TrainSettings.model_fields:
        raise fail(f"space.{key}: unknown key train.{option}; allowed: "
                   f"{', '.join(TrainSettings.model_fields)}")
    _check_value_type(spec, task, key, dist, fail)
    # Each choice (or each bound of a range) must itself make a valid spec; a conditional
    # dimension's in a trial where it is active (its conditions' first values).
    for value in dist.edge_values():
        trial = copy.deepcopy(spec.model_dump(exclude={"space"}))
        for target, target_value in conditions.activating_values(spec.space, key).items():
            target_section, _, target_option = target.partition(".")
            trial[target_section][target_option] = target_value
        trial[section][option] = value
        try:
            validate_spec(trial, source="")
        except SpecError as err:
            reason = str(err).removeprefix(": ")
            raise fail(f"space.{key}: value {value!r} is not allowed: {reason}") from None


def _option_annotation(spec: Spec, task, section: str, option: str) -> Any:
    """The type a trial's value of `section.option` must have (Any where unknown)."""
    if section == "train":
        return TrainSettings.model_fields[option].annotation
    if section == "data":
        return task.Options.model_fields[option].annotation
    from search.models import builder_parameters, get_builder

    name = spec.model["name"]
    parameters = builder_parameters(name, get_builder(name))
    if option not in parameters or isinstance(parameters[option].annotation, str) \
            or parameters[option].annotation is parameters[option].empty:
        return Any  # not an option of this model (refused below), or unannotated
    return parameters[option].annotation


def _accepts(annotation: Any, value: Any) -> bool:
    """Whether `value` has the option's type as it is, without pydantic's conversions: a
    trial hands it to the model or the optimizer unconverted. Range limits are left to the
    edge values' check."""
    import typing

    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]  # Annotated[int, Field(ge=1)]: the int
    try:
        pydantic.TypeAdapter(annotation).validate_python(value, strict=True)
    except pydantic.ValidationError:
        return False
    except (pydantic.PydanticUserError, pydantic.PydanticSchemaGenerationError, TypeError):
        return True  # a type pydantic cannot check: the edge values' check decides
    return True


def _check_value_type(spec: Spec, task, key: str, dist: Distribution, fail) -> None:
    """A float distribution over an integer option passes its bounds (32.0 is a fine int to
    pydantic) and then fails every trial ("hidden_size should be of type int, got: float")."""
    section, _, option = key.partition(".")
    if key == "model.name":
        return
    annotation = _option_annotation(spec, task, section, option)
    if dist.kind in FLOAT_DISTRIBUTIONS:
        sample = dist.args[0] + (dist.args[1] - dist.args[0]) / 3  # a value it may propose
        if not _accepts(annotation, float(sample)):
            raise fail(f"space.{key}: {dist.kind} proposes floats, but {key} takes "
                       f"{_type_name(annotation)}; use randint: [low, high] or choice: [...] of "
                       f"{_type_name(annotation)} values")
        return
    for value in dist.edge_values() if dist.kind in ("choice", "grid") else []:
        if isinstance(value, float) and not _accepts(annotation, value) and _accepts(annotation, int(value)):
            raise fail(f"space.{key}: {dist.kind} value {value!r} is a float, but {key} takes "
                       f"{_type_name(annotation)}; write it as {int(value)}")


def _type_name(annotation: Any) -> str:
    import typing

    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) is None and hasattr(annotation, "__name__"):
        return annotation.__name__  # int, float, bool
    return str(annotation).replace("typing.", "")  # Literal['rnn', 'lstm'], Optional[int]


def load_spec(path: str | Path, overrides: list[str] | None = None) -> Spec:
    raw = read_yaml(path)
    raw = apply_overrides(raw, overrides or [], str(path))
    return validate_spec(raw, source=str(path))
