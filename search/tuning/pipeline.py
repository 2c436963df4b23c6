"""One search, start to end: data once, trials on Ray, MLflow from the driver, test once."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import yaml

from search.cli.console import print_interrupted, print_no_result, print_refit, print_report
from search.cluster.mps import report_gpu_sharing
from search.cluster.ray_cluster import (
    check_address,
    check_machine_fits,
    check_resources_fit,
    start_ray_and_tracking,
    starts_own_ray,
    stop_ray,
    stop_ray_early,
)
from search.cluster.storage import check_storage_reaches_every_node, check_storage_writable, resolve_storage
from search.cluster.user_code import shipped_paths
from search.data import get_task
from search.errors import SpecError
from search.record import (
    BEST_PREFIX,
    BEST_SELECTION_VALUE,
    BEST_TRIAL_ID,
    CONFUSION_TEST,
    ERROR,
    MODEL_NAME_PARAM,
    RAY_EXPERIMENT_DIR,
    RAY_RUN_NAME,
    REEVAL_SKIPPED,
    REFIT_PREFIX,
    SEARCH_METRIC,
    SEARCH_MODE,
    SEARCH_WALL_TIME,
    SETTINGS_PREFIX,
    SMOKE_PARAM,
    SPACE_PREFIX,
    SPEC_RESOLVED,
    TASK_PARAM,
    TRIALS_CSV,
    TRIALS_FAILED,
    TRIALS_MD,
    WARM_START_FROM,
    WARM_START_PREFIX,
    Status,
    space_param,
)
from search.space.dotted import flatten
from search.space.spec import Spec
from search.space.validation import validate_spec
from search.space.variants import describe_trial_epochs, trial_count
from search.sync import print_record_pending, replay_spool
from search.tracking.capsule import capsule, log_capsule
from search.tracking.lineage import DataIdentity, data_identity, logged_data_digest
from search.tracking.model_export import log_best_model
from search.tracking.spool import spool_folder
from search.tracking.store import check_tracking_store
from search.tracking.summary import display_table, to_markdown, trials_table
from search.tracking.tracker import Tracker, TrialLogger, log_params, trial_params
from search.trial.checkpoints import CheckpointRefused
from search.trial.preflight import check_user_code, user_import_paths
from search.trial.resource_use import search_hours
from search.tuning.budget import Budget
from search.tuning.evaluate import Evaluation, evaluate_best
from search.tuning.front import Front, evaluate_front
from search.tuning.pbt_schedule import PBT_KEY, SCHEDULE_KEY, replay_of
from search.tuning.reevaluate import (
    Reevaluation,
    reevaluate,
    reevaluation_skip_reason,
    trial_table_columns,
    winner_params,
)
from search.tuning.refit import refit
from search.tuning.result import SearchResult
from search.tuning.resume import ResumeRecord, check_same_as_started, find_experiment_dir, read_record, write_record
from search.tuning.schedulers import nothing_to_compare
from search.tuning.warm_start import WarmStart, plan_warm_start


def search_params(spec: Spec, smoke: bool) -> dict[str, Any]:
    """The search run's params: the settings of the search itself and its dimensions."""
    params = {TASK_PARAM: spec.task, MODEL_NAME_PARAM: spec.model["name"], SMOKE_PARAM: smoke}
    params.update({f"{SETTINGS_PREFIX}{k}": v for k, v in flatten(spec.search.model_dump()).items()})
    params.update({f"{SPACE_PREFIX}{k}": space_param(d.kind, d.args, d.when) for k, d in spec.space.items()})
    if spec.search.objectives:  # the objective that picks each trial's epoch, as a single search names it
        params.update({SEARCH_METRIC: spec.search.metric, SEARCH_MODE: spec.search.mode})
    return params


def start_search(spec: Spec, raw: dict, smoke: bool = False, address: str | None = None) -> SearchResult:
    """A new search of `spec` (`raw`: the space as run, logged as spec.yaml and kept to resume)."""
    return _run(spec, raw, smoke, address, previous=None, experiment_dir=None)


def continue_search(spec: Spec, wanted: str | None, overrides: list[str], smoke: bool,
                    address: str | None = None) -> SearchResult:
    """The interrupted search of `spec`'s name under its storage (the last, or the folder
    `wanted`), as it was started; `overrides` and `smoke` may only repeat what it started with."""
    experiment_dir, previous = _resumable(spec, resolve_storage(spec.search.storage), wanted or "last")
    check_same_as_started(previous, overrides, smoke)
    spec = validate_spec(previous.spec, source=spec.source)
    return _run(spec, previous.spec, previous.smoke, address, previous, experiment_dir)


def _run(spec: Spec, raw: dict, smoke: bool, address: str | None, previous: ResumeRecord | None,
         experiment_dir: str | None) -> SearchResult:
    storage = resolve_storage(spec.search.storage)
    tracking_uri = previous.tracking_uri if previous else spec.tracking.uri
    # The environment first, in seconds: a cluster, a store and a folder that can be used.
    check_address(address)
    if starts_own_ray(address):  # a cluster joined is checked once joined, below
        check_machine_fits(spec.search.resources.cpu, spec.search.resources.gpu)
    check_tracking_store(tracking_uri, "tracking.uri", must_exist=previous is not None)
    check_storage_writable(storage)
    print(f"[search] {spec.name}: {describe_trial_epochs(spec)}", flush=True)
    check_user_code(spec)  # a user's model or task, tried on one example batch: no Ray, no MLflow yet
    task = get_task(spec.task)
    started = time.perf_counter()
    loaded = task.load(task.Options(**spec.data), smoke=smoke)  # bad data stops here: no Ray, no MLflow
    print(f"[search] {spec.name}: task {spec.task}, {task.describe(loaded)}", flush=True)
    identity = data_identity(task, loaded, spec.data)
    if previous is not None:
        check_same_data(previous, identity, experiment_dir)
    # A warm start reads its source now, so a refused one starts nothing; a resumed search has
    # its searcher's state, told trials and queued re-runs included, from Tune's saved state.
    warm = plan_warm_start(spec, identity, tracking_uri) if previous is None and spec.search.warm_start else None
    idle = nothing_to_compare(spec, trial_count(spec))
    if idle:
        print(f"[search] warning: {idle}", file=sys.stderr, flush=True)
    py_modules = shipped_paths(user_import_paths(spec))
    joined = ray_is_running() or bool(address not in (None, "local") or os.environ.get("RAY_ADDRESS"))
    nodes, ray_started = start_ray_and_tracking(address, tracking_uri, py_modules)
    try:
        check_storage_reaches_every_node(storage, nodes)
        waits = check_resources_fit(spec.search.resources.cpu, spec.search.resources.gpu, joined)
        if waits:
            print(f"[search] warning: {waits}", file=sys.stderr, flush=True)
        report_gpu_sharing(spec.search.resources.gpu)
        return _search(spec, raw, smoke, task, loaded, identity, tracking_uri, storage, previous, experiment_dir,
                       started, warm)
    finally:
        if ray_started:  # a notebook's next search starts its own, with its own modules
            stop_ray()


def ray_is_running() -> bool:
    import ray

    return ray.is_initialized()


def _search(spec: Spec, raw: dict, smoke: bool, task, loaded, identity: DataIdentity, tracking_uri: str,
            storage: str, previous: ResumeRecord | None, experiment_dir: str | None, started: float,
            warm: WarmStart | None) -> SearchResult:
    if previous is None:
        run_name = f"{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        experiment_dir = f"{storage.rstrip('/')}/{run_name}"
        tracker = Tracker(spec, tracking_uri, data=identity, spool=spool_folder(experiment_dir))
    else:
        run_name = previous.run_name
        tracker = Tracker(spec, tracking_uri, run_id=previous.search_run_id, data=identity,
                          spool=spool_folder(experiment_dir))
    try:
        result = _tracked_search(spec, raw, smoke, task, loaded, identity, tracker, previous, run_name,
                                 experiment_dir, started, warm)
    finally:
        pending = tracker.finish_record(spec.tracking.outage_wait)
    if pending:
        result.record_pending = pending
        print_record_pending(tracking_uri, spec.tracking.outage_wait, pending, experiment_dir)
    _settle_registration(result)
    return result


def _tracked_search(spec: Spec, raw: dict, smoke: bool, task, loaded, identity: DataIdentity, tracker: Tracker,
                    previous: ResumeRecord | None, run_name: str, experiment_dir: str,
                    started: float, warm: WarmStart | None) -> SearchResult:
    from search.tuning.tuner import build_tuner, restore_tuner

    tracking_uri = tracker.uri
    if previous is None:
        tracker.start_search(yaml.safe_dump(raw, sort_keys=False), search_params(spec, smoke),
                             {RAY_RUN_NAME: run_name, RAY_EXPERIMENT_DIR: experiment_dir})
        log_capsule(tracker.client, tracker.run_id, capsule(shipped_paths(user_import_paths(spec))))
        logger = TrialLogger(tracker, spec, class_names=task.class_names(loaded))
        logger.budget = budget = Budget(spec.search.budget, tracker) if spec.search.budget else None
        # Beside the file as written: every default filled in and --set / --smoke applied.
        tracker.client.log_text(tracker.run_id, yaml.safe_dump(spec.model_dump(), sort_keys=False), SPEC_RESOLVED)
        write_record(experiment_dir, ResumeRecord(tracker.run_id, tracking_uri, spec.experiment,
                                                  run_name, smoke, raw))
        tuner, told = build_tuner(spec, loaded, run_name, [logger], budget, warm)
        warm_started = _log_warm_start(tracker, spec, warm, told) if warm is not None else {}
    else:
        logger = TrialLogger(tracker, spec, class_names=task.class_names(loaded))
        # Before Tune's state is restored: its stopper and search algorithm refer to the budget.
        budget = Budget.of_resumed_search(spec.search.budget, tracker) if spec.search.budget else None
        logger.budget = budget
        tuner = restore_tuner(spec, loaded, experiment_dir, logger)  # refused before MLflow changes
        tracker.reopen_search()
        logger.adopt_existing_runs()
        if budget is not None:
            budget.continue_after(logger)
        warm_started = warm_start_record(tracker)
        ended = len(logger.trials) - logger.count(None)
        print(f"[search] resuming {experiment_dir}: {ended} trials already ended", flush=True)

    try:
        results = tuner.fit()
    except KeyboardInterrupt:
        results = None
    result = SearchResult(status="interrupted", name=spec.name, search_run_id=tracker.run_id,
                          experiment_id=tracker.experiment_id, tracking_uri=tracking_uri,
                          experiment_dir=experiment_dir, trials=None, data_digest=identity.digest)
    # A spent budget is a normal end, however few of the planned trials ran.
    budget_ended = budget is not None and budget.spent_on is not None
    if results is None or logger.unfinished or (logger.trials_created < trial_count(spec) and not budget_ended):
        logger.end_unfinished()
        result.trials = _log_summary(tracker, spec, logger)
        _end_budget(tracker, budget, result)
        tracker.end_search("KILLED")
        print_interrupted(spec, len(logger.trials) - logger.count(Status.INTERRUPTED), experiment_dir)
        return result

    front = None
    if spec.search.reevaluate is None and not spec.search.refit:  # the rest runs without Ray,
        stop_ray_early()  # so the search's own Ray stops meanwhile
    try:
        if spec.search.objectives:
            front = evaluate_front(spec, task, loaded, results, tracker, logger)
            evaluation = front.selected if front else None
        else:
            evaluation = evaluate_best(spec, task, loaded, results, exclude=logger.excluded())
        if evaluation is not None and spec.search.scheduler.name == "pbt":  # its config records its schedule
            evaluation.config = replay_of(tracker.client, logger.trials[evaluation.trial_id])
    except CheckpointRefused as err:
        # The best trial's weights were replaced in storage by something that is not a
        # checkpoint: the trials' record stays, the search ends failed, saying which file.
        result.trials = _log_summary(tracker, spec, logger)
        tracker.client.set_tag(tracker.run_id, ERROR, str(err))
        _end_budget(tracker, budget, result)
        tracker.end_search("FAILED")
        raise SpecError(f"the best trial's {err}") from None
    if evaluation is None:
        result.trials = _log_summary(tracker, spec, logger)
        _end_budget(tracker, budget, result)
        tracker.end_search("FAILED")
        print_no_result(spec, result.trials)
        result.status = "no_result"
        return result
    _log_evaluation(tracker, spec, evaluation)
    reevaluation = None
    if spec.search.reevaluate is not None:
        skipped = reevaluation_skip_reason(spec, budget, logger, tracker) if budget is not None else None
        if skipped:
            # Inside what is left of the budget, or not at all: said, and recorded on the search run.
            result.reevaluation_skipped = f"re-evaluation skipped: {skipped}"
            print(f"[search] {result.reevaluation_skipped}", flush=True)
            tracker.client.set_tag(tracker.run_id, REEVAL_SKIPPED, skipped)
        else:
            reevaluation = reevaluate(spec, task, loaded, tracker, logger, experiment_dir)
            if reevaluation is None:  # interrupted: the trials are done, the re-evaluation resumes
                result.trials = _log_summary(tracker, spec, logger)
                _end_budget(tracker, budget, result)
                tracker.end_search("KILLED")
                print_interrupted(spec, len(logger.trials), experiment_dir)
                return result
            if budget is not None:
                budget.other_epochs = reevaluation.epochs()
            _log_reevaluation(tracker, reevaluation)
    result.trials = _log_summary(tracker, spec, logger, reevaluation, front)
    exported_evaluation = reevaluation.exported if reevaluation and reevaluation.exported else evaluation
    refit_totals = []
    if spec.search.refit:
        exported_evaluation, refit_last = refit(spec, task, loaded, tracker, exported_evaluation)
        result.refit_metrics = {f"{REFIT_PREFIX}{k}": v for k, v in exported_evaluation.test.items()}
        refit_totals = [refit_last]
    exported = log_best_model(tracker, spec, task, loaded, exported_evaluation)
    result.registration = exported.registration
    wall = time.perf_counter() - started
    failed = logger.count(Status.FAILED) + logger.count(Status.INCOMPLETE)
    tracker.log_metrics({SEARCH_WALL_TIME: wall, TRIALS_FAILED: failed, **search_hours(
        [*logger.resource_totals(), *(reevaluation.totals if reevaluation else []), *refit_totals])})
    _end_budget(tracker, budget, result)
    result.warm_start = warm_started
    tracker.end_search("FINISHED")
    print_report(spec, tracker, result.trials, evaluation, wall, experiment_dir, reevaluation,
                 budget.describe_use() if budget is not None else None, front)
    if result.refit_metrics:
        print_refit(result.refit_metrics)
    result.status = "finished"
    result.best_trial_id, result.selection_value = evaluation.trial_id, evaluation.selection_value
    result.best_config = trial_params(spec, evaluation.config)
    if spec.search.scheduler.name == "pbt":  # the schedule its config records (JSON rows), not a run param
        result.best_config[SCHEDULE_KEY] = evaluation.config[PBT_KEY]["schedule"]
    result.test_metrics, result.baselines = dict(evaluation.test), dict(evaluation.baselines)
    result.model_uri = exported.model_uri
    if front is not None:
        result.pareto = front.table()
    if reevaluation is not None:
        result.reevaluation = reevaluation.table()
        result.reeval_winner_trial_id = reevaluation.winner
        result.reeval_metrics = reevaluation.search_run_metrics()
    return result


def _settle_registration(result: SearchResult) -> None:
    """The registered version and its alias decision, once the record holds them."""
    registration = getattr(result, "registration", None)
    if registration is not None and registration.done:
        outcome = registration.result or {}
        result.registered_model, result.champion_decision = outcome.get("registered"), outcome.get("decision")


def _resumable(spec: Spec, storage: str, resume: str) -> tuple[str, ResumeRecord]:
    experiment_dir = find_experiment_dir(storage, spec.name, resume)
    record = read_record(experiment_dir)
    check_tracking_store(record.tracking_uri, "tracking.uri (as the search started)", must_exist=True)
    # What the interrupted driver wrote and MLflow has not yet: first, so what is read below is whole.
    pending = replay_spool(spool_folder(experiment_dir), record.tracking_uri, spec.tracking.outage_wait)
    if pending:
        raise SpecError(f"--resume: {pending} writes of the search in {experiment_dir} wait for MLflow at "
                        f"{record.tracking_uri}, which did not take them in {spec.tracking.outage_wait:g} s; "
                        "resume once it answers")
    from mlflow.tracking import MlflowClient

    status = MlflowClient(tracking_uri=record.tracking_uri).get_run(record.search_run_id).info.status
    if status == "FINISHED":
        raise SpecError(f"--resume: the search in {experiment_dir} finished; nothing to resume")
    return experiment_dir, record


def check_same_data(previous: ResumeRecord, identity: DataIdentity, experiment_dir: str) -> None:
    """A resumed search trains on the data it started with: data changed since (a file
    edited, another package version) is refused before Ray starts; its trials would mix
    two datasets in one search."""
    from mlflow.tracking import MlflowClient

    logged = logged_data_digest(MlflowClient(tracking_uri=previous.tracking_uri).get_run(previous.search_run_id))
    if logged is not None and logged != identity.digest:
        raise SpecError(f"--resume: the data's digest is {identity.digest} now, {logged} when the search in "
                        f"{experiment_dir} started ({identity.source}); a resumed search trains on the data "
                        "it started with")


def _log_summary(tracker: Tracker, spec: Spec, logger: TrialLogger, reevaluation: Reevaluation | None = None,
                 front: Front | None = None):
    table = trials_table(spec, logger, trial_table_columns(reevaluation), front)
    tracker.client.log_text(tracker.run_id, table.to_csv(index=False), TRIALS_CSV)
    tracker.client.log_text(tracker.run_id, to_markdown(display_table(table)), TRIALS_MD)
    return table


def _log_evaluation(tracker: Tracker, spec: Spec, evaluation: Evaluation) -> None:
    log_params(tracker.client, tracker.run_id,
               {BEST_TRIAL_ID: evaluation.trial_id,
                **{f"{BEST_PREFIX}{k}": v for k, v in trial_params(spec, evaluation.config).items()}})
    tracker.log_metrics({**evaluation.test, **evaluation.baselines,
                         BEST_SELECTION_VALUE: evaluation.selection_value})
    if evaluation.test_confusion and evaluation.class_names:
        tracker.log_confusion(evaluation.test_confusion, evaluation.class_names,
                              f"best trial {evaluation.trial_id}: test", CONFUSION_TEST)


def _end_budget(tracker: Tracker, budget: Budget | None, result: SearchResult) -> None:
    """What the search used of its budget, on the search run and in the result (also when it
    stops short: a resume counts on from the time recorded)."""
    if budget is None:
        return
    budget.record_end()
    result.budget_spent, result.budget_used = budget.spent_on, budget.used_metrics()


def _log_warm_start(tracker: Tracker, spec: Spec, warm: WarmStart, told: int) -> dict[str, Any]:
    """The warm start on the search run (its source and counts) and on the console; returns
    what it logged, as warm_start_record reads it back."""
    counts = warm.metrics(told)
    tracker.client.set_tag(tracker.run_id, WARM_START_FROM, warm.source_run_id)
    tracker.log_metrics(counts)
    print(f"[search] {spec.name}: {warm.describe(told, spec.search.algorithm)}", flush=True)
    return {WARM_START_FROM: warm.source_run_id, **counts}


def warm_start_record(tracker: Tracker) -> dict[str, Any]:
    """The warm start as a resumed search's run recorded it: its source and counts ({} without one)."""
    run = tracker.client.get_run(tracker.run_id)
    source = run.data.tags.get(WARM_START_FROM)
    if source is None:
        return {}
    counts = {name: int(value) for name, value in run.data.metrics.items() if name.startswith(WARM_START_PREFIX)}
    return {WARM_START_FROM: source, **counts}


def _log_reevaluation(tracker: Tracker, reevaluation: Reevaluation) -> None:
    log_params(tracker.client, tracker.run_id, winner_params(reevaluation))
    tracker.log_metrics(reevaluation.search_run_metrics())

