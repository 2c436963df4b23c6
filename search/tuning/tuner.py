"""A Spec as a Ray Tune Tuner: searcher, scheduler, resources, storage."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from ray import tune
from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter
from ray.tune.search.optuna import OptunaSearch

from search.cluster.storage import resolve_storage
from search.errors import SpecError
from search.space import conditions
from search.space.domains import DefineByRun, nested, param_space
from search.space.mutations import mutation_keys
from search.space.spec import Spec
from search.space.variants import conditional_variants, trial_count
from search.trial.trainable import train_trial
from search.tuning.budget import Budget, BudgetedSearchGenerator, BudgetedVariantGenerator, budget_parts
from search.tuning.listed_search import ListedConfigs
from search.tuning.no_repeats import NoRepeats
from search.tuning.objective_feedback import ObjectiveFeedback
from search.tuning.schedulers import build_scheduler
from search.tuning.stale_checkpoints import RepairStaleCheckpoints
from search.tuning.warm_start import WarmStart, tell_optuna


@dataclass
class SearchSetup:
    """What Tune runs a search with: the search algorithm, the param space its suggestions
    complete, how many trials it asks Tune for, and how many a warm start told it."""

    algorithm: Any
    param_space: dict
    num_samples: int
    told: int = 0


def build_searcher(spec: Spec, budget: Budget | None = None, warm: WarmStart | None = None) -> SearchSetup:
    """The spec's searcher; with a budget it ends with it (search/tuning/budget.py), with a warm start
    it begins from the earlier search (search/tuning/warm_start.py)."""
    search = spec.search
    if search.algorithm == "optuna":
        import optuna

        # Seeded TPE: the same spec proposes the same configurations, none of them twice.
        # Multivariate: the parameters are modelled jointly, since a good learning rate
        # depends on the optimizer (and dropout on the model's size); independent TPE
        # settles on one optimizer's region early. Under `when:` grouped, Optuna's TPE for
        # conditional spaces: each set of parameters that occur together is modelled jointly.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.TPESampler(seed=search.seed, multivariate=True,
                                                 group=conditions.is_conditional(spec.space))
        # Define-by-run (search/space/domains.py): a conditional dimension is suggested only where it is active.
        space = DefineByRun(spec)
        told, known, study = 0, [], {}
        if warm is not None:
            storage, name, told = tell_optuna(warm, spec, space, sampler)
            study = {"storage": storage, "study_name": name}
            known = [nested(trial.values) for trial in warm.told]  # told: a proposal of one is a repeat
        # Several objectives: Optuna's TPE is multi-objective (MOTPE) when its study has several
        # directions, which OptunaSearch makes from lists of metrics and modes.
        objectives = search.objective_list
        metric, mode = ([o.metric for o in objectives], [o.mode for o in objectives]) if search.objectives \
            else (search.metric, search.mode)
        optuna_search = OptunaSearch(space=space, metric=metric, mode=mode, sampler=sampler, **study)
        if search.objectives or search.constraints:
            optuna_search = ObjectiveFeedback(optuna_search, search.metric, search.mode,
                                              tell_representative=bool(search.objectives),
                                              constraints=search.constraints)
        searcher = NoRepeats(optuna_search, known=known)
        # What Tune does with a Searcher and max_concurrent_trials, here so the budget can end it.
        limited = ConcurrencyLimiter(searcher, max_concurrent=search.max_concurrent)
        return SearchSetup(BudgetedSearchGenerator(limited, budget), spec.base_config(), search.num_samples, told)
    if conditions.is_conditional(spec.space) or warm is not None:
        configs = [nested(values) for values in conditional_variants(spec)]
        if warm is not None:  # the earlier best first, in place of the first trials drawn
            configs[:len(warm.reruns)] = [nested(trial.values) for trial in warm.reruns]
        limited = ConcurrencyLimiter(ListedConfigs(configs, metric=search.metric, mode=search.mode),
                                     max_concurrent=search.max_concurrent)
        return SearchSetup(BudgetedSearchGenerator(limited, budget), spec.base_config(), len(configs))
    # random and grid: Ray's variant generator (grid_search dimensions are enumerated).
    # It limits concurrency itself: Tune ignores max_concurrent_trials for it. Under pbt it
    # draws the whole population at once (search/tuning/pbt.py).
    max_concurrent = 0 if search.scheduler.name == "pbt" else search.max_concurrent
    variants = BudgetedVariantGenerator(budget, random_state=search.seed, max_concurrent=max_concurrent)
    return SearchSetup(variants, param_space(spec), search.num_samples)


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


def build_tuner(spec: Spec, loaded: Any, run_name: str, callbacks: list, budget: Budget | None = None,
                warm: WarmStart | None = None) -> tuple[tune.Tuner, int]:
    """The search's Tuner, and how many trials a warm start told its searcher."""
    searcher = build_searcher(spec, budget, warm)
    budget_callbacks, stopper = budget_parts(budget)
    # The repair matters only on resume, but a restored Tuner has the callbacks it began with.
    tuner = _tuner(spec, loaded, searcher.param_space, tune.TuneConfig(
        search_alg=searcher.algorithm, scheduler=build_scheduler(spec, trial_count(spec)),
        num_samples=searcher.num_samples,
    ), resolve_storage(spec.search.storage), run_name, [RepairStaleCheckpoints(), *callbacks, *budget_callbacks],
        stopper)
    return tuner, searcher.told


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
           callbacks: list, stopper: tune.Stopper | None = None,
           constraints: list[str] | None = None) -> tune.Tuner:
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
            name=name, storage_path=storage, callbacks=callbacks, stop=stopper,
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
