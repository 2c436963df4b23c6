"""A space file (spaces/*.yaml) parsed and checked into a typed Spec.

Everything a user can get wrong is caught here, before Ray starts or MLflow is
touched, and reported as one SpecError line naming the file, the key and what is
allowed. Unknown keys are errors at every level, also through --set.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_serializer, model_validator
from pydantic.json_schema import SkipJsonSchema

from search.errors import SpecError
from search.record import COSTS
from search.space import conditions
from search.space.durations import DURATION, parse_duration

SEARCHABLE_SECTIONS = ("data", "model", "train")
# The most trials one search may ask for (grid dimensions multiply num_samples). Ray Tune
# keeps every trial in the driver's memory and MLflow gets a run per trial: a search far
# beyond this is a typo (--num-samples 1000000000), not a plan.
MAX_TRIALS = 10_000
# Distributions whose values are floats (Ray Tune's quniform too: 64.0, not 64).
FLOAT_DISTRIBUTIONS = ("uniform", "loguniform", "quniform")
# A duration as the space file writes it (search/space/durations.py), for the JSON Schema: editors
# read its pattern as a JavaScript regular expression, which has no (?P<name>...) groups.
Duration = Annotated[str, StringConstraints(pattern=re.sub(r"\(\?P<\w+>", "(", DURATION.pattern))]
# Each scheduler's own keys: another scheduler's are refused rather than ignored.
SCHEDULER_KEYS = {"asha": ("grace_period", "reduction_factor"),
                  "successive_halving": ("grace_period", "reduction_factor"),
                  "pbt": ("perturbation_interval", "quantile", "mutate")}
ASHA_KEYS_OWNERS = ("asha", "successive_halving")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrainSettings(Strict):
    """How every trial trains (`train:`); each key may also be searched (`space: {train.lr: ...}`)."""

    epochs: int = Field(10, ge=1, description="Epochs a trial trains at most; also the schedulers' max_t.")
    batch_size: int = Field(64, ge=1, description="Examples per training step.")
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop", "adagrad"] = Field(
        "adam", description="The optimizer.")
    lr: float = Field(1e-3, gt=0, description="The learning rate (a schedule's peak).")
    weight_decay: float = Field(0.0, ge=0, description="L2 regularisation, through the optimizer.")
    momentum: float = Field(0.9, ge=0, lt=1, description="Momentum of sgd and rmsprop (the others have none).")
    patience: Optional[int] = Field(
        3, ge=1, description="Early stopping inside a trial: epochs without a lower val_loss before it stops; "
                             "null = off.")
    grad_clip: Optional[float] = Field(None, gt=0, description="The largest gradient norm (clipped to it); "
                                                               "null = off.")
    class_weights: bool = Field(False, description="Classification: the loss weighted by inverse class "
                                                   "frequency.")
    precision: Literal["fp32", "bf16"] = Field("fp32", description="fp32, or bf16 autocast (on CUDA only).")
    compile: Literal["none", "default", "reduce-overhead"] = Field(
        "none", description="torch.compile of the forward pass and the loss; reduce-overhead adds CUDA graphs.")
    seed: int = Field(0, description="Every trial is seeded with it (weights, batch order): trials differ only "
                                     "by their config.")
    lr_schedule: Literal["none", "cosine", "plateau", "onecycle"] = Field(
        "none", description="The learning rate over the epochs, stepped once per epoch.")
    warmup_fraction: Optional[float] = Field(
        None, ge=0, lt=1, description="Share of the epochs rising linearly from lr/25 to lr; null = no warm-up "
                                      "(onecycle: 0.3).")
    plateau_factor: float = Field(0.5, gt=0, lt=1, description="plateau: the lr is multiplied by this when "
                                                               "val_loss stalls.")
    plateau_patience: int = Field(1, ge=0, description="plateau: epochs without a lower val_loss before it "
                                                       "lowers the lr.")

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
    """Which trials stop early (`search.scheduler`): judged at rungs, or trained as a population."""

    # asha: asynchronous successive halving (each trial judged at a rung against those that
    # reached it before). successive_halving: synchronous; a trial waits (paused) at each rung
    # until its bracket has reached it, so few trials at once still compare whole rungs.
    # pbt: population-based training (search/tuning/pbt.py).
    name: Literal["asha", "successive_halving", "pbt", "none"] = Field(
        "asha", description="asha (asynchronous successive halving), successive_halving (synchronous: a trial "
                            "waits at each rung for its bracket), pbt (population-based training) or none.")
    grace_period: int = Field(1, ge=1, description="asha, successive_halving: the first rung, in epochs.")
    reduction_factor: float = Field(2, gt=1, description="asha, successive_halving: 1/reduction_factor of the "
                                                         "trials at a rung go on (successive_halving: a whole "
                                                         "number).")
    perturbation_interval: int = Field(2, ge=1, description="pbt: epochs between a trial's exploit decisions "
                                                            "(below train.epochs).")
    quantile: float = Field(0.25, gt=0, le=0.5, description="pbt: the bottom share of the population copies the "
                                                            "top share.")
    mutate: Optional[list[str]] = Field(
        None, min_length=1, description="pbt: the space keys perturbed at an exploit; null = the space's numeric "
                                        "train.lr, weight_decay, momentum, grad_clip and batch_size.")
    metric: Optional[str] = Field(None, description="With several search.objectives: the objective the scheduler "
                                                    "judges (it compares one number).")

    @model_serializer(mode="wrap")
    def _own_settings(self, handler) -> dict[str, Any]:
        # Written back with the settings of the scheduler named only (so valid again as written).
        data = handler(self)
        for key in SCHEDULER_KEYS["asha"] if self.name == "pbt" else SCHEDULER_KEYS["pbt"]:
            data.pop(key, None)
        return data


class ReevaluateSettings(Strict):
    """After the search: the top_k configurations trained again on `seeds` fresh seeds each."""

    top_k: int = Field(3, ge=1, description="The best configurations by the search metric, trained again.")
    seeds: int = Field(3, ge=2, description="Fresh seeds for each (a mean and a spread need two).")


class BudgetSettings(Strict):
    """When the search stops: no trial starts once either is spent, and running trials stop at
    the end of their epoch."""

    time: Optional[float] = Field(
        None, description="Seconds from the first trial's start, or a duration: 90s, 15m, 2h, 1h30m; "
                          "null = no time limit.")
    trial_epochs: Optional[int] = Field(
        None, ge=1, description="Epochs trained by all trials together (re-evaluation runs included); "
                                "null = no limit.")

    @field_validator("time", mode="before", json_schema_input_type=Optional[Union[float, Duration]])
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)

    @model_validator(mode="after")
    def _something_to_spend(self):
        if self.time is None and self.trial_epochs is None:
            raise ValueError("give time (a duration: 90s, 15m, 2h, 1h30m), trial_epochs, or both")
        return self


class WarmStartSettings(Strict):
    """An earlier search's trials: told to the searcher, its best run again first."""

    # `from` is a Python keyword: the field has another name and takes and writes `from`.
    model_config = ConfigDict(extra="forbid", serialize_by_alias=True)

    source: str = Field(alias="from", min_length=1,
                        description="An experiment (its latest finished search) or a search run id.")
    top_k: int = Field(3, ge=0, description="The earlier best configurations, trained again first; 0 only tells "
                                            "the searcher.")
    ignore_data: bool = Field(False, description="Take a source that trained on other data (another data "
                                                 "digest).")


class ResourceSettings(Strict):
    """What each trial reserves from Ray (`search.resources`)."""

    cpu: float = Field(1, gt=0, description="CPUs per trial (fractions allowed).")
    gpu: float = Field(0, ge=0, description="GPUs per trial: a fraction packs trials on one GPU (0.25: four), "
                                            "above 1 a whole number.")

    @model_validator(mode="after")
    def _whole_gpus_above_one(self):
        if self.gpu > 1 and self.gpu != int(self.gpu):
            raise ValueError("a gpu share above 1 must be a whole number")
        return self


class Objective(Strict):
    """One objective of several (`search.objectives`)."""

    metric: str = Field(description="A metric the task reports each epoch, or a cost: params, latency_ms, "
                                    "epoch_seconds, peak_memory_mb.")
    mode: Literal["min", "max"] = Field(description="Whether lower (min) or higher (max) is better.")


class SelectSettings(Strict):
    """Which member of the Pareto front is exported: among the members within `within` (a
    share: 0.02 is 2%) of the front's best on `objective`, the best on the other objectives."""

    objective: str = Field(description="The objective the members are measured on.")
    within: float = Field(0.0, ge=0, description="A share of the front's best on that objective (0.02 is 2%).")


class SearchSettings(Strict):
    """How the search runs (`search:`): what it optimises, how it proposes and stops trials, and
    what it does after them."""

    metric: str = Field("val_loss", description="The epoch metric that ranks trials: train_loss, val_loss, and "
                                                 "train_acc, val_acc, val_f1 (classification) or val_mae, "
                                                 "val_rmse (regression).")
    mode: Literal["min", "max"] = Field("min", description="Whether lower (min) or higher (max) is better.")
    # 1 to 3 {metric, mode}, in place of metric/mode; two or three make a Pareto front. Each
    # trial is represented by its best epoch on the first objective that training changes:
    # metric/mode then hold that one (see _objectives_replace_metric).
    objectives: Optional[list[Objective]] = Field(
        None, min_length=1, max_length=3, description="2 or 3 {metric, mode} in place of metric and mode: the "
                                                      "search finds a Pareto front; null = metric and mode.")
    select: Optional[SelectSettings] = Field(
        None, description="With objectives: which front member is exported; null = the best on the first.")
    constraints: list[str] = Field(
        [], description="Limits every trial must keep, each '<metric> <operator> <number>': "
                        "['params <= 2e6', 'latency_ms <= 5'].")
    algorithm: Literal["optuna", "random", "grid"] = Field(
        "optuna", description="optuna (TPE; never the same configuration twice), random, or grid.")
    num_samples: int = Field(12, ge=1, description="Trials; for grid, repeats of the whole grid. At most 10,000 "
                                                   "trials in all.")
    max_concurrent: int = Field(2, ge=1, description="Trials at once.")
    seed: int = Field(0, description="The searcher's seed (Optuna's TPE, random sampling): the same file "
                                     "proposes the same trials.")
    scheduler: SchedulerSettings = Field(SchedulerSettings(), description="Which trials stop early.")
    reevaluate: Optional[ReevaluateSettings] = Field(
        None, description="The top configurations trained again on fresh seeds; null = off.")
    budget: Optional[BudgetSettings] = Field(
        None, description="Stop when a time or a number of trial-epochs is spent; null = num_samples trials, "
                          "however long they take.")
    warm_start: Optional[WarmStartSettings] = Field(
        None, description="Start from an earlier search's trials; null = a search that starts from nothing.")
    resources: ResourceSettings = Field(ResourceSettings(), description="What each trial reserves from Ray.")
    storage: Optional[str] = Field(None, description="Ray Tune's results and checkpoints: a folder, a shared "
                                                     "mount, s3:// or gs://; null = ./ray_results.")
    max_failures: int = Field(0, ge=0, description="Retries of a crashed trial, from its last checkpoint.")
    fail_fast: bool = Field(False, description="Stop the whole search at the first failed trial.")
    refit: bool = Field(False, description="The winner trained again on train + validation, the model exported "
                                           "and registered.")

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
    """Where the search's MLflow record goes (`tracking:`)."""

    uri: str = Field("sqlite:///mlflow.db", description="The MLflow tracking store: sqlite:///PATH, http(s):// "
                                                        "of a running mlflow server, or a database MLflow "
                                                        "supports.")
    experiment: Optional[str] = Field(None, description="The MLflow experiment; null = the space's name.")
    outage_wait: float = Field(600, ge=0, description="Seconds a finished search waits for an unreachable MLflow "
                                                      "to take its record (exit 3 after).")


class Distribution(Strict):
    """One search dimension: exactly one of these keys, and `when` for a dimension that
    exists only under other dimensions' values."""

    # Exactly one kind (checked by _exactly_one; the JSON Schema says it with oneOf).
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "oneOf": [{"required": [kind]} for kind in ("choice", "grid", "uniform", "loguniform", "randint",
                                                     "quniform")]})

    choice: Optional[list[Any]] = Field(None, description="One of these values (Optuna: a categorical).")
    grid: Optional[list[Any]] = Field(None, description="Each of these values, enumerated by the grid and random "
                                                        "algorithms (a choice for Optuna).")
    uniform: Optional[tuple[float, float]] = Field(None, description="[low, high]: a float between them.")
    loguniform: Optional[tuple[float, float]] = Field(
        None, description="[low, high], low above 0: a float, uniform in its logarithm.")
    randint: Optional[tuple[int, int]] = Field(None, description="[low, high]: an integer, both included.")
    quniform: Optional[tuple[float, float, float]] = Field(
        None, description="[low, high, q]: a float between low and high, a multiple of q.")
    when: Optional[dict[str, list[Any]]] = Field(
        None, description="{choice key: [values]}: the dimension is searched only in trials where every named "
                          "key holds one of its values.")

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
    """A space file: one search (`python -m search.run FILE`). Every key is checked before anything
    starts; an unknown key anywhere is an error."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                      description="The search's name (letters, digits, _ . -); the MLflow experiment's default "
                                  "name.")
    task: str = Field(description="A task in data/ (electricity or series, tweets or text, images), or your own "
                                  "Task subclass as module:Class.")
    data: dict[str, Any] = Field({}, description="The task's options (each task's data keys); path null = its "
                                                 "built-in data.")
    model: dict[str, Any] = Field(description="name: a model in models/ (simple_rnn, lstm, bilstm, vgg13, "
                                              "resnet18) or your own module:callable; the other keys are its "
                                              "options.")
    train: TrainSettings = Field(TrainSettings(), description="How every trial trains.")
    search: SearchSettings = Field(SearchSettings(), description="How the search runs.")
    space: dict[str, Distribution] = Field(
        {}, description="The searched dimensions: a dotted key into data, model or train (train.lr), and its "
                        "distribution.")
    tracking: TrackingSettings = Field(TrackingSettings(), description="Where the MLflow record goes.")
    # Where the spec came from, for messages and the MLflow artifact (not a YAML key).
    source: SkipJsonSchema[str] = Field("<spec>", exclude=True)

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
