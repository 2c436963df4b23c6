"""How many trials, and which, a space makes: grid dimensions multiply the samples, and
under `when:` only their active combinations count."""

from __future__ import annotations

import math
from typing import Any, Iterator

from search.space import conditions
from search.space.spec import MAX_TRIALS, BudgetSettings, Spec


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
    from search.space.durations import format_duration

    given = []
    if budget.time is not None:
        given.append(f"{format_duration(budget.time)} from the first trial's start")
    if budget.trial_epochs is not None:
        given.append(f"{budget.trial_epochs:,} trial-epochs")
    return " or ".join(given) + (", whichever is spent first" if len(given) > 1 else "")


def conditional_variants(spec: Spec, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Random or grid search's trials over a space with conditions, as dotted searched keys:
    num_samples passes, each every active combination of the enumerated dimensions with its
    own seeded draw of the others (search/space/conditions.py), at most `limit` of them.

    Drawn here rather than by Ray's variant generator: it has no conditional dimensions, and
    the functions of its own workaround (`tune.sample_from`) are not given its seeded random
    state. The draws are Ray Tune's own domains' samplers, seeded by search.seed.
    """
    import numpy as np

    from search.space.domains import suggestion_order, to_tune_domain

    rng = np.random.default_rng(spec.search.seed)
    domains = {key: to_tune_domain(dist, "random") for key, dist in spec.space.items()}
    enumerated, order = enumerated_keys(spec), suggestion_order(spec)
    made = 0
    for _ in range(spec.search.num_samples):
        for values in conditions.variants(spec.space, enumerated, lambda key: domains[key].sample(random_state=rng),
                                          order):
            if limit is not None and made >= limit:
                return
            made += 1
            yield values
