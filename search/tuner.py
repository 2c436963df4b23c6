"""A Spec as a Ray Tune Tuner: searcher, scheduler, resources, storage."""

from __future__ import annotations

import warnings
from typing import Any

from ray import tune
from ray.tune.search import BasicVariantGenerator
from ray.tune.search.optuna import OptunaSearch

from search.errors import SpecError
from search.mutations import mutation_keys
from search.no_repeats import NoRepeats
from search.objective_feedback import ObjectiveFeedback
from search.schedulers import build_scheduler
from search.space import expected_trials, param_space
from search.spec import Spec
from search.stale_checkpoints import RepairStaleCheckpoints
from search.storage import resolve_storage
from search.trainable import train_trial


def build_searcher(spec: Spec):
    search = spec.search
    if search.algorithm == "optuna":
        import optuna

        # Seeded TPE: the same spec proposes the same configurations, none of them twice.
        # Multivariate: the parameters are modelled jointly, since a good learning rate
        # depends on the optimizer (and dropout on the model's size); independent TPE
        # settles on one optimizer's region early.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.TPESampler(seed=search.seed, multivariate=True)
        if search.objectives:
            # Several objectives: Optuna's TPE is multi-objective (MOTPE) when its study has
            # several directions, which OptunaSearch makes from lists of metrics and modes.
            objectives = search.objective_list
            searcher = OptunaSearch(metric=[o.metric for o in objectives], mode=[o.mode for o in objectives],
                                    sampler=sampler)
        else:
            searcher = OptunaSearch(metric=search.metric, mode=search.mode, sampler=sampler)
        if search.objectives or search.constraints:
            searcher = ObjectiveFeedback(searcher, search.metric, search.mode,
                                         tell_representative=bool(search.objectives), constraints=search.constraints)
        return NoRepeats(searcher)
    # random and grid: Ray's variant generator (grid_search dimensions are enumerated).
    # It limits concurrency itself: Tune ignores max_concurrent_trials for it. Under pbt it
    # draws the whole population at once (search/pbt.py).
    max_concurrent = 0 if search.scheduler.name == "pbt" else search.max_concurrent
    return BasicVariantGenerator(random_state=search.seed, max_concurrent=max_concurrent)


def build_trainable(spec: Spec, loaded: Any, constraints: list[str] | None = None):
    """`constraints`: the limits checked before a trial trains (default: search.constraints)."""
    # with_parameters puts the loaded data in the object store once; every trial reads it there.
    pbt = spec.search.scheduler.name == "pbt"
    trainable = tune.with_parameters(train_trial, task_name=spec.task, loaded=loaded,
                                     constraints=spec.search.constraints if constraints is None else constraints,
                                     mutate=mutation_keys(spec) if pbt else [])
    resources = spec.search.resources
    return tune.with_resources(trainable, {"cpu": resources.cpu, "gpu": resources.gpu})


def restore_tuner(spec: Spec, loaded: Any, experiment_dir: str, logger) -> tune.Tuner:
    """The interrupted search's Tuner, with its searcher state (Optuna's history) intact.

    Tune restores the callbacks the search started with; the trial logger among them
    comes back as this driver's `logger` (TrialLogger.__reduce__), which must have happened.
    """
    tuner = tune.Tuner.restore(experiment_dir, trainable=build_trainable(spec, loaded),
                               resume_unfinished=True, resume_errored=False, restart_errored=False)
    if not logger.restored_by_tune:
        raise SpecError(f"--resume: Ray Tune's state in {experiment_dir} did not give back the search's "
                        "MLflow trial logger (a search started by an earlier version of this platform "
                        "cannot be resumed by this one)")
    return tuner


def build_tuner(spec: Spec, loaded: Any, run_name: str, callbacks: list) -> tune.Tuner:
    search = spec.search
    # The repair matters only on resume, but a restored Tuner has the callbacks it began with.
    return _tuner(spec, loaded, param_space(spec), tune.TuneConfig(
        search_alg=build_searcher(spec), scheduler=build_scheduler(spec, expected_trials(spec)),
        num_samples=search.num_samples,
        max_concurrent_trials=search.max_concurrent if search.algorithm == "optuna" else None,
    ), resolve_storage(spec.search.storage), run_name, [RepairStaleCheckpoints(), *callbacks])


def build_reevaluation_tuner(spec: Spec, loaded: Any, configs: list[dict], storage: str, name: str,
                             callbacks: list) -> tune.Tuner:
    """One trial per config, each trained to its end (no scheduler), like the search's trials."""
    # Ray's variant generator runs given configs as they are: points_to_evaluate, one trial each.
    # Each point replaces values of the param space, which must hold every key: any of them does.
    searcher = BasicVariantGenerator(points_to_evaluate=configs, max_concurrent=spec.search.max_concurrent)
    # No limit is checked again: each configuration kept them in the search, and a latency timed
    # again could fall on either side of its bound.
    return _tuner(spec, loaded, configs[0], tune.TuneConfig(search_alg=searcher, num_samples=len(configs)),
                  storage, name, callbacks, constraints=[])


def _tuner(spec: Spec, loaded: Any, space: dict, tune_config: tune.TuneConfig, storage: str, name: str,
           callbacks: list, constraints: list[str] | None = None) -> tune.Tuner:
    search = spec.search
    # With several objectives Tune has no one metric: the searcher has its list, the scheduler the
    # one it judges (search.scheduler.metric), and the best checkpoint is kept by search.metric.
    if not search.objectives:
        tune_config.metric, tune_config.mode = search.metric, search.mode
    # A fresh worker costs seconds (process start, torch import); reuse it.
    tune_config.reuse_actors = True
    # Short names: Ray's default puts every config value into the folder name.
    tune_config.trial_name_creator = tune_config.trial_dirname_creator = lambda trial: trial.trial_id
    return tune.Tuner(
        build_trainable(spec, loaded, constraints),
        param_space=space,
        tune_config=tune_config,
        run_config=tune.RunConfig(
            name=name, storage_path=storage, callbacks=callbacks,
            failure_config=tune.FailureConfig(max_failures=search.max_failures, fail_fast=search.fail_fast),
            # The best checkpoint by the search metric is kept (Ray also keeps the latest, to resume).
            # Under pbt every one: an exploit copies a trial's checkpoint of its last perturbation,
            # which that trial, going on meanwhile, would otherwise delete before it is read.
            checkpoint_config=tune.CheckpointConfig(
                num_to_keep=None if search.scheduler.name == "pbt" else 1, checkpoint_score_attribute=search.metric,
                checkpoint_score_order=search.mode),
            verbose=1,
        ),
    )
