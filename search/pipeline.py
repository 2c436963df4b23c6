"""One search, start to end: data once, trials on Ray, MLflow from the driver, test once."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import yaml

from data import get_task
from search.evaluate import Evaluation, evaluate_best
from search.plots import confusion_matrix_png
from search.space import flatten
from search.spec import Spec
from search.summary import format_float_table, to_markdown, trials_table
from search.tracking import Tracker, TrialLogger, log_params


def search_params(spec: Spec, smoke: bool) -> dict[str, Any]:
    """The search run's params: the settings of the search itself and its dimensions."""
    params = {"task": spec.task, "model.name": spec.model["name"], "smoke": smoke}
    params.update({f"search.{k}": v for k, v in flatten(spec.search.model_dump()).items()})
    params.update({f"space.{k}": d.describe() for k, d in spec.space.items()})
    return params


def start_ray(address: str | None) -> None:
    import ray

    if ray.is_initialized():
        return
    # Every epoch checkpoints by design (resume loses nothing); Ray warns about the
    # frequent experiment snapshots that follow, which at these sizes cost little.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # Trials log to MLflow through the driver only, so workers need no MLflow settings.
    ray.init(address=address, include_dashboard=False, logging_level="WARNING",
             runtime_env=None if address is None else {"working_dir": None})


def run_search(spec: Spec, raw: dict, smoke: bool = False, address: str | None = None) -> int:
    task = get_task(spec.task)
    options = task.Options(**spec.data)
    started = time.perf_counter()
    loaded = task.load(options, smoke=smoke)  # bad data is refused here, before MLflow or Ray
    print(f"[search] {spec.name}: task {spec.task}, {task.describe(loaded)}", flush=True)

    start_ray(address)
    tracker = Tracker(spec, spec.tracking.uri)
    spec_text = yaml.safe_dump(raw, sort_keys=False)
    run_name = f"{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    search_run_id = tracker.start_search(spec_text, search_params(spec, smoke), {"ray.run_name": run_name})
    logger = TrialLogger(tracker, spec, class_names=task.class_names(loaded))

    from search.tuner import build_tuner

    try:
        results = build_tuner(spec, loaded, run_name, [logger]).fit()
    except KeyboardInterrupt:
        results = None
    interrupted = results is None or any(t not in logger.status for t in logger.run_ids)
    if interrupted:
        logger.end_unfinished()
        _log_summary(tracker, spec, logger)
        tracker.end_search("KILLED")
        print(f"\n[search] interrupted; the finished trials are in MLflow (search run {search_run_id}).",
              file=sys.stderr)
        return 130

    evaluation = evaluate_best(spec, task, loaded, results)
    table = _log_summary(tracker, spec, logger)
    if evaluation is None:
        tracker.end_search("FAILED")
        print(format_float_table(table))
        print(f"\n[search] no trial produced a finite {spec.search.metric}; nothing to evaluate.", file=sys.stderr)
        return 1
    _log_evaluation(tracker, evaluation)
    wall = time.perf_counter() - started
    tracker.log_metrics({"search_wall_time_s": wall,
                         "trials_failed": sum(s == "failed" for s in logger.status.values())})
    tracker.end_search("FINISHED")
    _print_report(spec, tracker, table, evaluation, wall)
    return 0


def _log_summary(tracker: Tracker, spec: Spec, logger: TrialLogger):
    table = trials_table(spec, logger)
    tracker.client.log_text(tracker.run_id, table.to_csv(index=False), "trials.csv")
    tracker.client.log_text(tracker.run_id, to_markdown(table), "trials.md")
    return table


def _log_evaluation(tracker: Tracker, evaluation: Evaluation) -> None:
    log_params(tracker.client, tracker.run_id,
               {"best.trial_id": evaluation.trial_id, **{f"best.{k}": v for k, v in flatten(evaluation.config).items()}})
    tracker.log_metrics({**evaluation.test, **evaluation.baselines,
                         "best_selection_value": evaluation.selection_value})
    if evaluation.test_confusion and evaluation.class_names:
        png = confusion_matrix_png(evaluation.test_confusion, evaluation.class_names,
                                   f"best trial {evaluation.trial_id}: test")
        tracker.log_png(png, "confusion_matrix_test.png")


def _print_report(spec: Spec, tracker: Tracker, table, evaluation: Evaluation, wall: float) -> None:
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
    uri = spec.tracking.uri
    print(f"\nMLflow: experiment {spec.experiment!r}, search run {tracker.run_id}")
    if uri.startswith(("http://", "https://")):
        print(f"  open {tracker.runs_url()}")
    else:
        print(f"  mlflow ui --backend-store-uri {uri} --host 127.0.0.1 --port 5000")
        print(f"  then open {tracker.runs_url()}")
    print(f"Ray Tune results: {os.path.join(_storage(spec), tracker.client.get_run(tracker.run_id).data.tags['ray.run_name'])}")


def _storage(spec: Spec) -> str:
    from search.tuner import storage_path

    return storage_path(spec)
