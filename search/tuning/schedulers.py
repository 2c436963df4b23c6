"""Trial schedulers: which trials stop early, at which epochs ("rungs").

`asha` is Ray Tune's ASHAScheduler: asynchronous, each trial judged at a rung against
those that reached it before, so with two trials at a time the first ones at each rung
go on unopposed (ray-project/ray#44256). `successive_halving` is synchronous: every
trial of a bracket waits, paused, at a rung until the whole bracket has reached it, and
the best 1/reduction_factor go on from their checkpoints. It is Ray Tune's HyperBand
(HyperBandForBOHB, the variant that pauses trials while a bracket fills) with every
bracket its most aggressive one, sized to the search.
"""

from __future__ import annotations

import math

from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, HyperBandForBOHB

from search.space.spec import Spec
from search.tuning.ray_internals import use_one_bracket_shape


def rungs(first: int, factor: float, epochs: int) -> list[int]:
    """The epochs at which a scheduler compares trials: first, first*factor, ... below epochs."""
    found, rung = [], first
    while rung < epochs:
        found.append(int(rung))
        rung *= factor
    return found


def bracket_size(trials: int, factor: int, halvings: int) -> int:
    """Trials per bracket: the search's trials split evenly into as few brackets as hold at
    most factor ** halvings each (HyperBand's largest bracket: one trial left at the end).

    A bracket is halved by its planned size, so a last bracket left half empty would keep
    nearly all of its trials: even brackets avoid that.
    """
    largest = max(1, factor ** halvings)
    brackets = math.ceil(trials / largest)
    return math.ceil(trials / brackets)


class SuccessiveHalving(HyperBandForBOHB):
    """Ray's HyperBandForBOHB in brackets of one shape (see search/tuning/ray_internals.py).

    Trials pause at a rung and resume from their checkpoints when promoted; the searcher
    hears of each pause (on_pause/on_unpause, which the platform's searcher wrapper uses to
    count only running trials against max_concurrent).
    """

    def __init__(self, epochs: int, first_rung: int, reduction_factor: int, trials: int, **judged: str):
        super().__init__(time_attr="epoch", max_t=epochs, reduction_factor=reduction_factor, **judged)
        self.rungs = rungs(first_rung, reduction_factor, epochs)
        use_one_bracket_shape(self, halvings=len(self.rungs), first_rung=first_rung,
                              trials_per_bracket=bracket_size(trials, reduction_factor, len(self.rungs)))

    def on_trial_add(self, tune_controller, trial: Trial):
        # A resumed search hands Tune every trial again, the ended ones too. Tune's scheduler
        # would seat them in brackets where they never report, and the brackets would wait on
        # them forever. The trials that go on (those running or paused when the search stopped)
        # continue from their checkpoints in fresh brackets.
        if trial.status in (Trial.TERMINATED, Trial.ERROR):
            return
        super().on_trial_add(tune_controller, trial)


def build_scheduler(spec: Spec, trials: int):
    """The spec's scheduler; `trials`: how many trials the search makes."""
    scheduler = spec.search.scheduler
    if scheduler.name == "none":
        return FIFOScheduler()
    judged = judged_objective(spec)
    if scheduler.name == "pbt":
        from search.tuning.pbt import PopulationBasedTraining

        return PopulationBasedTraining(spec, **judged)
    if scheduler.name == "successive_halving":
        return SuccessiveHalving(spec.train.epochs, scheduler.grace_period, int(scheduler.reduction_factor), trials,
                                 **judged)
    return ASHAScheduler(
        time_attr="epoch", max_t=spec.train.epochs,
        grace_period=scheduler.grace_period, reduction_factor=scheduler.reduction_factor, **judged)


def judged_objective(spec: Spec) -> dict[str, str]:
    """The metric and mode a scheduler judges, where Tune does not hand it one: with several
    objectives, search.scheduler.metric (Tune's TuneConfig then has none)."""
    if not spec.search.objectives:
        return {}
    mode = next(o.mode for o in spec.search.objectives if o.metric == spec.search.scheduler.metric)
    return {"metric": spec.search.scheduler.metric, "mode": mode}


def nothing_to_compare(spec: Spec, trials: int) -> str | None:
    """Why the spec's scheduler would stop (almost) no trial, in one line; None when it has
    trials to compare."""
    scheduler, search = spec.search.scheduler, spec.search
    if scheduler.name == "none":
        return None
    name = f"search.scheduler {scheduler.name}"
    if scheduler.name == "pbt":
        if trials < 2:
            return f"{name}: a population of {trials} trial has nobody to exploit"
        if "max_concurrent" in search.model_fields_set:
            return (f"{name}: its population of {trials} trials takes turns on the cluster, as many at once as "
                    "search.resources fit; search.max_concurrent does not apply")
        return None
    if not rungs(scheduler.grace_period, scheduler.reduction_factor, spec.train.epochs):
        return (f"{name}: its first rung (grace_period {scheduler.grace_period}) is not below "
                f"train.epochs {spec.train.epochs}, so it compares no trial before the end")
    if trials < 2:
        return f"{name}: a search of {trials} trial has nothing to compare"
    if scheduler.name == "asha" and search.max_concurrent * scheduler.reduction_factor >= trials:
        return (f"{name}: the first {search.max_concurrent} trials (max_concurrent) reach every rung with "
                f"nothing to compare them with, and alone are as many as a rung keeps of {trials} trials "
                f"(1/{scheduler.reduction_factor:g}): asha will stop few trials; successive_halving "
                "compares whole rungs")
    return None
