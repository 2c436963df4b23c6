"""One search, start to end: data once, trials on Ray, MLflow from the driver, test once."""

from __future__ import annotations

import math
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import yaml

from search.data import get_task
from search.dotted import flatten
from search.errors import SpecError
from search.evaluate import Evaluation, evaluate_best
from search.mps import report_gpu_sharing
from search.plots import confusion_matrix_png
from search.resume import ResumeRecord, find_experiment_dir, read_record, write_record
from search.spec import Spec, validate_spec
from search.storage import check_storage_reaches_every_node, resolve_storage
from search.summary import format_float_table, to_markdown, trials_table
from search.tracking import Tracker, TrialLogger, log_params

EXIT_OK, EXIT_NO_RESULT, EXIT_INTERRUPTED = 0, 1, 130


def search_params(spec: Spec, smoke: bool) -> dict[str, Any]:
    """The search run's params: the settings of the search itself and its dimensions."""
    params = {"task": spec.task, "model.name": spec.model["name"], "smoke": smoke}
    params.update({f"search.{k}": v for k, v in flatten(spec.search.model_dump()).items()})
    params.update({f"space.{k}": d.describe() for k, d in spec.space.items()})
    return params


def expected_trials(spec: Spec) -> int:
    """How many trials the whole search makes (grid dimensions multiply the samples)."""
    if spec.search.algorithm == "optuna":
        return spec.search.num_samples
    grid = [len(d.args) for d in spec.space.values()
            if d.kind == "grid" or (d.kind == "choice" and spec.search.algorithm == "grid")]
    return spec.search.num_samples * math.prod(grid)


def start_ray(address: str | None) -> int:
    """Starts a local Ray, or joins the cluster at `address`; returns its number of live nodes."""
    import ray

    # Every epoch checkpoints by design (resume loses nothing); Ray warns about the
    # frequent experiment snapshots that follow, which at these sizes cost little.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    if not ray.is_initialized():
        try:
            ray.init(address=address, include_dashboard=False, logging_level="WARNING")
        except (ConnectionError, ValueError, RuntimeError) as err:
            raise SpecError(f"--address {address}: cannot join a Ray cluster there ({err})") from None
    return sum(1 for node in ray.nodes() if node.get("Alive"))


def open_tracking_store(uri: str) -> None:
    """Opens a local MLflow store, building its schema when the file is new (about 1.5 s).

    Errors are left to the search run's creation just after, which reports them.
    """
    from mlflow.tracking import MlflowClient

    if uri.startswith("sqlite:"):
        try:
            MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
        except Exception:  # noqa: BLE001 - reported by the Tracker that follows
            pass


def start_ray_and_tracking(address: str | None, tracking_uri: str) -> int:
    """Ray's start is mostly waiting on the processes it launches; the tracking store
    opens meanwhile. Returns the number of live Ray nodes."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(open_tracking_store, tracking_uri)
        return start_ray(address)


def run_search(spec: Spec, raw: dict, smoke: bool = False, address: str | None = None,
               resume: str | None = None) -> int:
    storage = resolve_storage(spec.search.storage)
    previous = None
    if resume is not None:
        experiment_dir, previous = _resumable(spec, storage, resume)
        spec, raw, smoke = validate_spec(previous.spec, source=experiment_dir), previous.spec, previous.smoke
    task = get_task(spec.task)
    started = time.perf_counter()
    loaded = task.load(task.Options(**spec.data), smoke=smoke)  # bad data stops here: no Ray, no MLflow
    print(f"[search] {spec.name}: task {spec.task}, {task.describe(loaded)}", flush=True)
    tracking_uri = previous.tracking_uri if previous else spec.tracking.uri
    check_storage_reaches_every_node(storage, start_ray_and_tracking(address, tracking_uri))
    report_gpu_sharing(spec.search.resources.gpu)

    from search.tuner import build_tuner, restore_tuner

    if previous is None:
        run_name = f"{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        experiment_dir = f"{storage.rstrip('/')}/{run_name}"
        tracker = Tracker(spec, tracking_uri)
        tracker.start_search(yaml.safe_dump(raw, sort_keys=False), search_params(spec, smoke),
                             {"ray.run_name": run_name, "ray.experiment_dir": experiment_dir})
        # Beside the file as written: every default filled in and --set / --smoke applied.
        tracker.client.log_text(tracker.run_id, yaml.safe_dump(spec.model_dump(), sort_keys=False),
                                "spec_resolved.yaml")
        write_record(experiment_dir, ResumeRecord(tracker.run_id, tracking_uri, spec.experiment,
                                                  run_name, smoke, raw))
        logger = TrialLogger(tracker, spec, class_names=task.class_names(loaded))
        tuner = build_tuner(spec, loaded, run_name, [logger])
    else:
        tracker = Tracker(spec, tracking_uri)
        tracker.reopen_search(previous.search_run_id)
        logger = TrialLogger(tracker, spec, class_names=task.class_names(loaded))
        logger.adopt_existing_runs()
        print(f"[search] resuming {experiment_dir}: {len(logger.status)} trials already ended", flush=True)
        tuner = restore_tuner(spec, loaded, experiment_dir, [logger])

    try:
        results = tuner.fit()
    except KeyboardInterrupt:
        results = None
    if results is None or logger.unfinished or logger.trials_created < expected_trials(spec):
        return _interrupted(spec, tracker, logger, experiment_dir)

    evaluation = evaluate_best(spec, task, loaded, results)
    table = _log_summary(tracker, spec, logger)
    if evaluation is None:
        tracker.end_search("FAILED")
        print(format_float_table(table))
        print(f"\n[search] no trial produced a finite {spec.search.metric}; nothing to evaluate.", file=sys.stderr)
        return EXIT_NO_RESULT
    _log_evaluation(tracker, evaluation)
    wall = time.perf_counter() - started
    tracker.log_metrics({"search_wall_time_s": wall,
                         "trials_failed": sum(s == "failed" for s in logger.status.values())})
    tracker.end_search("FINISHED")
    _print_report(spec, tracker, table, evaluation, wall, experiment_dir)
    return EXIT_OK


def _resumable(spec: Spec, storage: str, resume: str) -> tuple[str, ResumeRecord]:
    experiment_dir = find_experiment_dir(storage, spec.name, resume)
    record = read_record(experiment_dir)
    from mlflow.tracking import MlflowClient

    status = MlflowClient(tracking_uri=record.tracking_uri).get_run(record.search_run_id).info.status
    if status == "FINISHED":
        raise SpecError(f"--resume: the search in {experiment_dir} finished; nothing to resume")
    return experiment_dir, record


def _interrupted(spec: Spec, tracker: Tracker, logger: TrialLogger, experiment_dir: str) -> int:
    logger.end_unfinished()
    _log_summary(tracker, spec, logger)
    tracker.end_search("KILLED")
    done = sum(s != "interrupted" for s in logger.status.values())
    print(f"\n[search] interrupted after {done} ended trials; nothing computed is lost.\n"
          f"  resume: python -m search.run {spec.source} --resume {experiment_dir}", file=sys.stderr)
    return EXIT_INTERRUPTED


def _log_summary(tracker: Tracker, spec: Spec, logger: TrialLogger):
    table = trials_table(spec, logger)
    tracker.client.log_text(tracker.run_id, table.to_csv(index=False), "trials.csv")
    tracker.client.log_text(tracker.run_id, to_markdown(table), "trials.md")
    return table


def _log_evaluation(tracker: Tracker, evaluation: Evaluation) -> None:
    log_params(tracker.client, tracker.run_id,
               {"best.trial_id": evaluation.trial_id,
                **{f"best.{k}": v for k, v in flatten(evaluation.config).items()}})
    tracker.log_metrics({**evaluation.test, **evaluation.baselines,
                         "best_selection_value": evaluation.selection_value})
    if evaluation.test_confusion and evaluation.class_names:
        png = confusion_matrix_png(evaluation.test_confusion, evaluation.class_names,
                                   f"best trial {evaluation.trial_id}: test")
        tracker.log_png(png, "confusion_matrix_test.png")


def _print_report(spec: Spec, tracker: Tracker, table, evaluation: Evaluation, wall: float,
                  experiment_dir: str) -> None:
    counts = table["status"].value_counts().to_dict() if not table.empty else {}
    print(f"\n[search] {spec.name}: {len(table)} trials in {wall:.0f} s "
          f"({', '.join(f'{n} {s}' for s, n in counts.items())})\n")
    print(format_float_table(table))
    print(f"\nBest trial {evaluation.trial_id} ({spec.search.metric} {evaluation.selection_value:.6g}):")
    for key in spec.space:
        section, _, option = key.partition(".")
        print(f"  {key} = {evaluation.config[section][option]}")
    print("\nTest split (best trial, evaluated once):")
    for key, value in evaluation.test.items():
        print(f"  {key:<16} {value:.6g}")
    if evaluation.baselines:
        print("Yardsticks on the same test split:")
        for key, value in evaluation.baselines.items():
            print(f"  {key:<34} {value:.6g}")
    uri = tracker.uri
    print(f"\nMLflow: experiment {spec.experiment!r}, search run {tracker.run_id}")
    if uri.startswith(("http://", "https://")):
        print(f"  open {tracker.runs_url()}")
    else:
        print(f"  mlflow ui --backend-store-uri {uri} --host 127.0.0.1 --port 5000")
        print(f"  then open {tracker.runs_url()}")
    print(f"Ray Tune results: {experiment_dir}")
