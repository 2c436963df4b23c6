"""A raw space checked into a typed Spec: everything a user can get wrong, caught before
Ray starts or MLflow is touched, as one SpecError line naming the file, the key and what
is allowed (the Spec's own models, search/space/spec.py, check each key on its own; this checks
them against each other, the task, the model and the metrics they report)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pydantic

from search.errors import SpecError
from search.record import COSTS, EPOCH_METRICS
from search.space import conditions
from search.space.spec import (
    ASHA_KEYS_OWNERS,
    FLOAT_DISTRIBUTIONS,
    MAX_TRIALS,
    SCHEDULER_KEYS,
    SEARCHABLE_SECTIONS,
    Distribution,
    Spec,
    TrainSettings,
    _describe,
    _first_error,
    apply_overrides,
    read_yaml,
)
from search.space.variants import trial_count


def validate_spec(raw: dict[str, Any], source: str = "<spec>", *, whole_search: bool = True) -> Spec:
    """`whole_search` False: `raw` is one trial's values (a dimension's edge value checked in
    the base config, without the space); the checks of the search as a whole are left out."""
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
    _check_objectives(spec, task.kind, fail)
    _check_constraints(spec, task.kind, fail)
    _check_scheduler_keys(spec, fail, whole_search)
    if spec.search.metric in COSTS:
        raise fail(f"search.metric: {spec.search.metric} is a cost, the same at every epoch: use it in "
                   "search.objectives beside a metric that training changes, or in search.constraints")
    if spec.search.metric not in allowed_metrics:
        raise fail(f"search.metric: {spec.search.metric!r} is not reported by a {task.kind} task; "
                   f"allowed: {', '.join(allowed_metrics)}")
    scheduler = spec.search.scheduler
    if scheduler.name in ("asha", "successive_halving") and scheduler.grace_period > spec.train.epochs:
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


def _check_objectives(spec: Spec, kind: str, fail) -> None:
    """Several objectives: each a metric the task reports or a cost; a scheduler told which one
    it judges; a selection rule on one of them."""
    search = spec.search
    allowed = (*EPOCH_METRICS[kind], *COSTS)
    for index, objective in enumerate(search.objectives or []):
        if objective.metric not in allowed:
            raise fail(f"search.objectives[{index}].metric: {objective.metric!r} is not reported by a {kind} "
                       f"task; allowed: {', '.join(allowed)}")
    metrics = [objective.metric for objective in search.objective_list]
    scheduler = search.scheduler
    judged = [metric for metric in metrics if metric not in COSTS]
    if scheduler.metric is not None:
        if scheduler.name == "none":
            raise fail("search.scheduler.metric: a scheduler of name none judges nothing")
        if scheduler.metric not in judged:
            raise fail(f"search.scheduler.metric: {scheduler.metric!r} is not an objective that training "
                       f"changes; allowed: {', '.join(judged)}")
    elif search.objectives and scheduler.name != "none":
        raise fail(f"search.scheduler.metric: {scheduler.name} judges one metric; with several search.objectives "
                   f"name the one it judges ({', '.join(judged)}), or set search.scheduler.name none")
    if search.select is not None:
        if not search.objectives:
            raise fail("search.select: picks a member of the Pareto front of several search.objectives")
        if search.select.objective not in metrics:
            raise fail(f"search.select.objective: {search.select.objective!r} is not an objective; "
                       f"allowed: {', '.join(metrics)}")
    if search.objectives and search.warm_start is not None:
        raise fail("search.warm_start: tells the searcher an earlier search's values of one metric; with several "
                   "search.objectives it has none to tell")
    if search.objectives and search.reevaluate is not None:
        raise fail("search.reevaluate: ranks configurations by one metric; with several search.objectives the "
                   "Pareto front is the result, each member evaluated once on the test split")


def _check_scheduler_keys(spec: Spec, fail, whole_search: bool) -> None:
    """pbt's settings given to another scheduler, or the rungs' given to pbt, would be ignored:
    refused (the rungs' settings under none are allowed, as they always were). Then pbt's rules."""
    scheduler = spec.search.scheduler
    for key in sorted(scheduler.model_fields_set):
        owners = [name for name, keys in SCHEDULER_KEYS.items() if key in keys]
        if owners and scheduler.name not in owners and (scheduler.name, *owners) != ("none", *ASHA_KEYS_OWNERS):
            raise fail(f"search.scheduler.{key}: a setting of {' and '.join(owners)}, not of {scheduler.name}")
    if scheduler.name != "pbt":
        return
    if spec.search.algorithm == "optuna":
        raise fail("search.algorithm: pbt takes random or grid (its population is drawn by Ray's variant "
                   "generator): Ray Tune's PopulationBasedTraining refuses a search algorithm beside it")
    # A conditional space or a warm start is drawn by a search algorithm of the platform's
    # (search/tuning/listed_search.py), which Ray Tune's PopulationBasedTraining refuses as well.
    conditional = next((key for key, dist in spec.space.items() if dist.when), None)
    if conditional is not None:
        raise fail(f"space.{conditional}.when: pbt draws its population with Ray's variant generator, which "
                   "takes no conditional dimensions")
    if spec.search.warm_start is not None:
        raise fail("search.warm_start: pbt draws its population with Ray's variant generator, which takes no "
                   "earlier search's configurations")
    if scheduler.perturbation_interval >= spec.train.epochs:
        raise fail(f"search.scheduler.perturbation_interval: {scheduler.perturbation_interval} is not below "
                   f"train.epochs {spec.train.epochs}, so no trial would exploit another before its end")
    if whole_search:  # builds the network for model keys: once, for the whole search
        from search.space.mutations import check_mutations

        check_mutations(spec, fail)


def _check_constraints(spec: Spec, kind: str, fail) -> None:
    from search.space.constraints import parse_constraint

    allowed = (*EPOCH_METRICS[kind], *COSTS)
    for index, text in enumerate(spec.search.constraints):
        try:
            constraint = parse_constraint(text)
        except ValueError as err:
            raise fail(f"search.constraints[{index}]: {err}") from None
        if constraint.metric not in allowed:
            raise fail(f"search.constraints[{index}]: {constraint.metric!r} is neither a metric a {kind} task "
                       f"reports nor a cost; allowed: {', '.join(allowed)}")


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
            validate_spec(trial, source="", whole_search=False)
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
