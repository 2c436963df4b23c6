"""Hyperparameter importance of one search: Optuna's fANOVA over its completed trials.

The trials ran on Ray, not in an Optuna study, so the study is rebuilt from MLflow:
each trial becomes an Optuna trial with the search's distributions (space.* params)
and its selection value (its best epoch by the search metric) as the objective. A key
with a `when:` is measured over the trials where it was active (Optuna's own importance
takes only the parameters every trial has).
"""

from __future__ import annotations

from dataclasses import dataclass

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from search.compare.store import SearchRecord
from search.compare.tables import canonical
from search.record import is_completed


@dataclass
class Importances:
    """fANOVA's importance of each searched key, best first, and over how many trials each
    was measured: a conditional key (`when:`) over the trials where it was active."""

    values: dict[str, float]
    trials: dict[str, int]


def param_importances(search: SearchRecord) -> tuple[Importances | None, str]:
    """(importances, "") or (None, why there is no answer)."""
    distributions = {key: _distribution(kind, args) for key, (kind, args) in search.space.items()}
    distributions = {k: d for k, d in distributions.items() if d is not None}
    # ASHA-stopped trials count: the search ranked them too.
    trials = [t for t in search.trials if is_completed(t.status) and search.selection_value(t) is not None]
    if len(trials) < 2:
        return None, f"needs at least 2 completed trials (this search has {len(trials)})"
    # A trial run holds a conditional key only where it was active: None elsewhere.
    rows = [({key: _value(dist, trial.params.get(key)) for key, dist in distributions.items()},
             search.selection_value(trial)) for trial in trials]
    conditional = set(search.conditions)
    always = [key for key in distributions if key not in conditional]
    found, why = _fanova(always, rows, distributions, search)
    if found is None:
        return None, why
    result = Importances(dict(found), {key: len(_complete(always, rows)) for key in found})
    # Each conditional key over the trials where it was active, beside the keys active in all
    # of them (its conditions' keys, and whatever else they share).
    for key in distributions:
        if key not in conditional:
            continue
        active = [row for row in rows if row[0][key] is not None]
        keys = [k for k in distributions if all(row[0][k] is not None for row in active)]
        fit, _ = _fanova(keys, active, distributions, search)
        if fit is not None and key in fit:
            result.values[key], result.trials[key] = fit[key], len(_complete(keys, active))
    ordered = sorted(result.values, key=lambda k: -result.values[k])
    return Importances({k: result.values[k] for k in ordered}, {k: result.trials[k] for k in ordered}), ""


def _complete(keys: list[str], rows: list) -> list:
    return [(params, score) for params, score in rows if all(params[k] is not None for k in keys)]


def _fanova(keys: list[str], rows: list, distributions: dict, search: SearchRecord
            ) -> tuple[dict[str, float] | None, str]:
    """Optuna's fANOVA over the rows that have a value of every key, or why it cannot answer."""
    rows = _complete(keys, rows)
    varying = [k for k in keys if len({repr(params[k]) for params, _ in rows}) > 1]
    if len(rows) < 2 or not varying:
        return None, "needs at least 2 completed trials whose searched values differ"
    if len({score for _, score in rows}) < 2:
        return None, f"every trial reached the same {search.metric}, so no key explains a difference"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize" if search.mode == "min" else "maximize")
    for params, score in rows:
        study.add_trial(optuna.trial.create_trial(
            params={k: params[k] for k in varying}, distributions={k: distributions[k] for k in varying},
            value=score))
    try:
        importances = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
    except (RuntimeError, ValueError) as err:
        return None, f"fANOVA could not fit: {err}"
    return {key: float(value) for key, value in importances.items()}, ""


def _distribution(kind: str, args: list):
    if kind in ("choice", "grid") and args:
        return CategoricalDistribution(list(args))
    if kind in ("uniform", "quniform") and len(args) >= 2:
        return FloatDistribution(float(args[0]), float(args[1]))
    if kind == "loguniform" and len(args) == 2:
        return FloatDistribution(float(args[0]), float(args[1]), log=True)
    if kind == "randint" and len(args) == 2:
        return IntDistribution(int(args[0]), int(args[1]))
    return None


def _value(distribution, text: str | None):
    """A trial's param text as a value of the distribution (None when it is not one)."""
    if text is None:
        return None
    if isinstance(distribution, CategoricalDistribution):
        # log_params wrote str(value), so the choice whose str() matches is the value.
        return next((c for c in distribution.choices if str(c) == text), None)
    number = canonical(text)
    if not isinstance(number, float):
        return None
    if isinstance(distribution, IntDistribution):
        number = int(number)
    return number if distribution.low <= number <= distribution.high else None
