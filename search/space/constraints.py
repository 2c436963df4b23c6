"""`search.constraints`: limits a trial must keep, each "<metric> <operator> <number>".

A limit on what is known before training (`params`, `latency_ms`: search/trial/costs.py measures
both on the built model) is checked in the trial's worker before its first epoch: a trial
that breaks one is not trained and ends `infeasible`. A limit on anything training
measures is judged when the trial ends, at the epoch that stands for it (its best by
search.metric); breaking one marks the trial's run search.feasible=false. Either way the
trial is never the best, never on a Pareto front, never re-evaluated, and Optuna is told
how far it is off (Optuna's Trial.set_constraint), so its TPE moves away from there.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Iterable

from search.record import BEFORE_TRAINING_COSTS, is_number

OPERATORS = ("<=", ">=", "<", ">")
# A Tune result key: the worker's report of a trial it did not train, with the broken limits.
INFEASIBLE_RESULT = "infeasible"
_FORM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|<|>)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class Constraint:
    metric: str
    operator: str
    bound: float
    text: str  # as written

    @property
    def before_training(self) -> bool:
        return self.metric in BEFORE_TRAINING_COSTS

    def holds(self, value: float) -> bool:
        return {"<=": value <= self.bound, ">=": value >= self.bound,
                "<": value < self.bound, ">": value > self.bound}[self.operator]

    def violation(self, value: float) -> float:
        """How far `value` is off, relative to the bound (Optuna's constraint value): 0 when it
        holds, above 0 when it does not (a strict limit met exactly is off by a hair)."""
        if self.holds(value):
            return 0.0
        distance = abs(value - self.bound) / (abs(self.bound) or 1.0)
        return max(distance, 1e-12)

    def describe(self, value: float) -> str:
        return f"{self.text} ({self.metric} {value:.6g})"


def parse_constraint(text: Any) -> Constraint:
    """ValueError (its text says what is allowed) unless `text` is "<metric> <operator> <number>"."""
    found = _FORM.match(text) if isinstance(text, str) else None
    if found is None:
        raise ValueError(f"{text!r} is not <metric> <operator> <number> with an operator among "
                         f"{', '.join(OPERATORS)} (for example 'params <= 2e6')")
    metric, operator, bound = found.groups()
    if not math.isfinite(float(bound)):
        raise ValueError(f"{text!r}: the bound must be a finite number")
    return Constraint(metric, operator, float(bound), " ".join(found.groups()))


def parse_constraints(texts: Iterable[str]) -> list[Constraint]:
    return [parse_constraint(text) for text in texts]


def broken(constraints: Iterable[Constraint], values: dict[str, Any]) -> list[str]:
    """The limits `values` break, described ("params <= 2e+06 (params 3.15405e+06)"); a limit
    whose metric `values` lacks, or holds no finite number for, is not judged."""
    return [c.describe(values[c.metric]) for c in constraints
            if is_number(values.get(c.metric)) and not c.holds(values[c.metric])]


def violations(constraints: Iterable[Constraint], values: dict[str, Any]) -> dict[str, float]:
    """Each judged limit's violation (Optuna's constraint values), by its text."""
    return {c.text: c.violation(values[c.metric]) for c in constraints if is_number(values.get(c.metric))}
