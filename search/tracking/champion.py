"""Registry aliases, MLflow's convention: every new version is the `challenger`; `champion`
(what deployment loads: `models:/<name>@champion`) moves to it only when it earns it.

A version earns it when its test metric (the task's headline: test_acc, test_mse) beats
every yardstick on the same test split, and beats the current champion's, where both
were tested on the same data (their dataset digests match; on other data the two figures
say nothing of each other, and the yardsticks decide alone). The decision and its reason
are a tag of the version (`search.champion_decision`) and printed.
"""

from __future__ import annotations

from dataclasses import dataclass

from search import record
from search.tuning.yardsticks import margin, yardsticks_on


@dataclass
class Judged:
    """What a version was judged on."""

    version: str
    metric: str
    value: float
    digest: str | None


@dataclass
class Decision:
    champion: bool
    reason: str


def decide(candidate: Judged, baselines: dict[str, float], current: Judged | None) -> Decision:
    """Whether `candidate` becomes the champion, and why, in one line."""
    name = f"version {candidate.version} ({candidate.metric} {candidate.value:.4g})"
    beaten = []
    for yardstick, theirs in sorted(yardsticks_on(candidate.metric, baselines).items()):
        sign, by = margin(candidate.metric, candidate.value, theirs)
        if sign <= 0:
            verb = "ties" if sign == 0 else f"loses by {by} to"
            return Decision(False, f"challenger: {name} {verb} yardstick {yardstick} ({theirs:.4g})")
        beaten.append(f"{yardstick} by {by}")
    yardsticks = f"beats every yardstick ({', '.join(beaten)})" if beaten else "has no yardstick to beat"
    if current is None:
        return Decision(True, f"champion: {name} {yardsticks}; there was no champion")
    if current.digest != candidate.digest or current.metric != candidate.metric:
        return Decision(True, f"champion: {name} {yardsticks}; the champion, version {current.version}, was "
                              "tested on other data, so the yardsticks decide")
    sign, by = margin(candidate.metric, candidate.value, current.value)
    theirs = f"champion version {current.version} ({current.value:.4g})"
    if sign <= 0:
        verb = "ties" if sign == 0 else f"loses by {by} to"
        return Decision(False, f"challenger: {name} {yardsticks} but {verb} the {theirs}")
    return Decision(True, f"champion: {name} {yardsticks} and beats the {theirs} by {by}")


def current_champion(client, name: str) -> Judged | None:
    """The version the champion alias names, with what it was judged on; None without one."""
    from mlflow.exceptions import MlflowException

    from search.tracking.lineage import logged_data_digest

    try:
        version = client.get_model_version_by_alias(name, record.CHAMPION)
    except MlflowException:
        return None
    metric, value = version.tags.get(record.TEST_METRIC), version.tags.get(record.TEST_VALUE)
    if metric is None or value is None:
        return None  # not judged by the platform: nothing to compare with
    digest = logged_data_digest(client.get_run(version.run_id)) if version.run_id else None
    return Judged(str(version.version), metric, float(value), digest)


def judge_version(client, name: str, candidate: Judged, baselines: dict[str, float]) -> Decision:
    """Tags the new version, makes it the challenger, and the champion where it earns it."""
    decision = decide(candidate, baselines, current_champion(client, name))
    client.set_model_version_tag(name, candidate.version, record.TEST_METRIC, candidate.metric)
    client.set_model_version_tag(name, candidate.version, record.TEST_VALUE, repr(candidate.value))
    client.set_model_version_tag(name, candidate.version, record.CHAMPION_DECISION, decision.reason)
    client.set_registered_model_alias(name, record.CHALLENGER, candidate.version)
    if decision.champion:
        client.set_registered_model_alias(name, record.CHAMPION, candidate.version)
    return decision
