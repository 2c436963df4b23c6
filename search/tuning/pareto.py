"""Several objectives: which trials are non-dominated, and which one of them to export.

Written here rather than taken from Optuna: a random or grid search has no Optuna study,
and the trials are ranked on their representative epoch (see search/space/spec.py), which the
driver knows, not on the values a searcher was told.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def improves(value: float, best: float, mode: str) -> bool:
    return value < best if mode == "min" else value > best


def non_dominated(values: np.ndarray, modes: Sequence[str]) -> np.ndarray:
    """A mask of the rows of `values` (a row per trial, a column per objective) that no other
    row dominates: no other row is at least as good on every objective and better on one.
    Equal rows do not dominate each other, so both stay."""
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    signs = np.array([1.0 if mode == "min" else -1.0 for mode in modes])
    losses = np.asarray(values, dtype=float) * signs  # every objective as "lower is better"
    # at_most[i, j]: row j is at least as good as row i on every objective; better[i, j]: on one.
    at_most = (losses[None, :, :] <= losses[:, None, :]).all(axis=2)
    better = (losses[None, :, :] < losses[:, None, :]).any(axis=2)
    return ~(at_most & better).any(axis=1)


def within(value: float, best: float, mode: str, share: float) -> bool:
    """Whether `value` lies within `share` (0.02: 2%) of `best`, on the side of worse values."""
    margin = share * abs(best)
    return value <= best + margin if mode == "min" else value >= best - margin


def select(members: dict[str, Sequence[float]], metrics: Sequence[str], modes: Sequence[str],
           objective: str | None = None, share: float = 0.0) -> str:
    """The member to export (`members`: trial id -> its objective values, in `metrics` order).

    Among the members within `share` of the best on `objective` (default: the first), the best
    on the other objectives, taken in order (the second decides, ties go to the third); what
    is left tied goes to the best on `objective`, then to the first trial id.
    """
    chosen = metrics.index(objective) if objective is not None else 0
    best = min((values[chosen] for values in members.values()),
               key=lambda value: value if modes[chosen] == "min" else -value)
    close = [trial for trial, values in members.items() if within(values[chosen], best, modes[chosen], share)]
    order = [i for i in range(len(metrics)) if i != chosen] + [chosen]

    def key(trial: str):
        values = members[trial]
        return (*[values[i] if modes[i] == "min" else -values[i] for i in order], trial)

    return min(close, key=key)
