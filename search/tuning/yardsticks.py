"""A search's best against its yardsticks (the task's baselines on the same test split), in
one line: which it beats and which it loses to, and by how much.

For an error (loss, MSE, MAE, RMSE: lower is better) the margin is a ratio, since these
figures span orders of magnitude; for a score (accuracy, F1, precision, recall) it is
points (hundredths), as accuracies are compared.
"""

from __future__ import annotations

from search.record import BASELINE_PREFIX, is_number

LOWER_IS_BETTER = ("loss", "mse", "mae", "rmse")
# The test metric a task kind's yardsticks are compared on.
HEADLINE = {"regression": "test_mse", "classification": "test_acc"}


def headline_metric(kind: str) -> str:
    return HEADLINE.get(kind, "test_loss")


def yardsticks_on(metric: str, baselines: dict[str, float]) -> dict[str, float]:
    """{yardstick name: its value} for one test metric: baseline_<name>_<metric> keys."""
    suffix = f"_{metric}"
    return {key[len(BASELINE_PREFIX):-len(suffix)]: value for key, value in baselines.items()
            if key.startswith(BASELINE_PREFIX) and key.endswith(suffix) and is_number(value)}


def margin(metric: str, ours: float, theirs: float) -> tuple[int, str]:
    """(+1 beats, -1 loses, 0 ties) and the margin as text ("2.21x", "0.4 points")."""
    if metric.rsplit("_", 1)[-1] in LOWER_IS_BETTER:
        if f"{ours:.4g}" == f"{theirs:.4g}":
            return 0, "0x"
        if ours <= 0 or theirs <= 0:  # no ratio of a zero error: the difference instead
            return (1 if ours < theirs else -1), f"{abs(ours - theirs):.4g}"
        ratio = theirs / ours if ours < theirs else ours / theirs
        return (1 if ours < theirs else -1), f"{ratio:.3g}x"
    points = round((ours - theirs) * 100, 1)
    if points == 0:
        return 0, "0 points"
    return (1 if points > 0 else -1), f"{abs(points):.1f} points"


def against_yardsticks(metric: str, ours: float | None, baselines: dict[str, float], what: str = "") -> str | None:
    """One line: "on test_mse (0.000184): beats persistence by 2.11x (0.000388); loses to linear
    by 2.21x (8.34e-05)"; None when the search logged no yardstick for the metric."""
    found = yardsticks_on(metric, baselines)
    if not found or not is_number(ours):
        return None
    groups: dict[int, list[str]] = {1: [], -1: [], 0: []}
    for name, theirs in sorted(found.items(), key=lambda item: item[1]):
        sign, text = margin(metric, ours, theirs)
        groups[sign].append(f"{name} ({theirs:.4g})" if sign == 0 else f"{name} by {text} ({theirs:.4g})")
    parts = [f"{verb} {', '.join(groups[sign])}" for sign, verb in ((1, "beats"), (-1, "loses to"), (0, "ties"))
             if groups[sign]]
    label = f"{what}: {ours:.4g}" if what else f"{ours:.4g}"
    return f"on {metric} ({label}): " + "; ".join(parts)
