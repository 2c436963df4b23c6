"""The comparison's pictures (PNG bytes): learning curves of the top trials, parallel
coordinates of the searched keys, hyperparameter importance, confusion matrices."""

from __future__ import annotations

import io
import math

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
from matplotlib.colors import LogNorm
from matplotlib.ticker import MaxNLocator

from search.compare.store import SearchRecord
from search.compare.tables import canonical, short

# The one figure -> PNG bytes step, shared with the search's own plots.
from search.tracking.plots import png_bytes

# (panel title, train curve, validation curve) per task kind; regression has no train MAE.
PANELS = {
    "classification": [("loss", "train_loss", "val_loss"), ("accuracy", "train_acc", "val_acc")],
    "regression": [("loss (MSE, scaled)", "train_loss", "val_loss"), ("validation MAE", None, "val_mae")],
}
DEFAULT_PANELS = [("loss", "train_loss", "val_loss")]


def learning_curves_png(search: SearchRecord, top_k: int) -> bytes | None:
    """Train (dashed) and validation (solid) curves of the search's top_k trials, one colour each."""
    trials = [t for t in search.ranked_trials() if search.selection_value(t) is not None][:top_k]
    if not trials:
        return None
    panels = PANELS.get(search.kind, DEFAULT_PANELS)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    colours = plt.get_cmap("tab10")
    for ax, (title, train_key, val_key) in zip(axes[0], panels):
        for index, trial in enumerate(trials):
            label = f"{trial.trial_id} ({search.metric} {search.selection_value(trial):.4g})"
            for key, style in ((train_key, "--"), (val_key, "-")):
                curve = trial.history.get(key) if key else None
                if curve:
                    ax.plot([s for s, _ in curve], [v for _, v in curve], style, marker="o", markersize=3,
                            color=colours(index % 10), label=label if style == "-" else None)
        ax.set_title(title + ("  (dashed: train, solid: validation)" if train_key else ""), fontsize=9)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{search.experiment}: learning curves of the top {len(trials)} trials")
    return png_bytes(fig)


def parallel_coordinates_png(search: SearchRecord) -> bytes | None:
    """One axis per searched key, then the selection metric; each trial a line coloured by it.

    Axes are normalised to the searched range (log for loguniform), categories spread evenly,
    so a key's axis reads the same whichever values the trials happened to draw.
    """
    trials = [t for t in search.trials if search.selection_value(t) is not None]
    space = search.space
    if not trials or not space:
        return None
    scores = [search.selection_value(t) for t in trials]
    low, high = min(scores), max(scores)
    axes = []  # (label, [position per trial], [(position, tick text)])
    for key, (kind, args) in space.items():
        axes.append((key, *_axis(kind, args, [t.params.get(key) for t in trials])))
    score_position, log = score_scale(scores)
    axes.append((f"{search.metric} ({search.mode}{', log' if log else ''})", score_position,
                 [(0.0, f"{low:.4g}"), (1.0, f"{high:.4g}")] if high > low else [(0.5, f"{low:.4g}")]))

    fig, ax = plt.subplots(figsize=(max(6, 1.9 * len(axes)), 4.5))
    colour_map = plt.get_cmap("viridis_r" if search.mode == "min" else "viridis")  # best is yellow
    order = sorted(range(len(trials)), key=lambda i: score_position[i] * (1 if search.mode == "max" else -1))
    for i in order:  # best drawn last, on top
        # Markers, so a value between two axes where the trial has none still shows.
        ax.plot(range(len(axes)), [axis[1][i] for axis in axes], color=colour_map(score_position[i]),
                alpha=0.85, linewidth=1.6, marker="o", markersize=2.5)
    for x, (_label, _, ticks) in enumerate(axes):
        ax.axvline(x, color="grey", linewidth=0.8)
        for position, text in ticks:
            ax.text(x + 0.03, position, text, fontsize=7, va="center")
    ax.set_xticks(range(len(axes)), [label for label, _, _ in axes], rotation=20, ha="right", fontsize=8)
    ax.set_yticks([])
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlim(-0.2, len(axes) - 0.6)
    norm = LogNorm(low, high) if log else plt.Normalize(low, high if high > low else low + 1)
    fig.colorbar(plt.cm.ScalarMappable(cmap=colour_map, norm=norm), ax=ax, fraction=0.03,
                 label=f"{search.metric}{' (log scale)' if log else ''}")
    ax.set_title(f"{search.experiment}: searched keys vs {search.metric} ({len(trials)} trials)")
    return png_bytes(fig)


def score_scale(scores: list[float]) -> tuple[list[float], bool]:
    """Each score's place in [0, 1] for the metric's axis and colour, and whether on a log scale.

    Log when every score is positive and they span more than a decade: one trial cut early
    at 0.013 would otherwise paint every good trial near 0.0002 the same colour.
    """
    low, high = min(scores), max(scores)
    log = low > 0 and high > 10 * low
    scale = math.log10 if log else (lambda x: x)
    if high <= low:
        return [0.5] * len(scores), False
    return [(scale(s) - scale(low)) / (scale(high) - scale(low)) for s in scores], log


def _axis(kind: str, args: list, values: list) -> tuple[list[float], list[tuple[float, str]]]:
    """Positions in [0, 1] for one searched key, and the tick texts for its axis."""
    # A trial without a value (a conditional key where it was inactive: its run holds no
    # param) has no point on the axis: NaN, where matplotlib breaks the trial's line.
    if kind in ("choice", "grid") or not args:
        choices = [str(c) for c in args] or sorted({str(v) for v in values if v is not None})
        for value in values:  # a value outside the listed choices still gets a place
            if value is not None and str(value) not in choices:
                choices.append(str(value))
        step = 1 / (len(choices) - 1) if len(choices) > 1 else 0
        spot = {c: i * step if len(choices) > 1 else 0.5 for i, c in enumerate(choices)}
        positions = [math.nan if v is None else spot[str(v)] for v in values]
        return positions, [(spot[c], short(c)) for c in choices]
    log = kind == "loguniform"
    low, high = float(args[0]), float(args[1])
    scale = (lambda x: math.log10(x)) if log else (lambda x: x)
    span = scale(high) - scale(low) or 1.0
    positions = []
    for value in values:
        number = canonical(value)
        if value is None:
            positions.append(math.nan)
            continue
        positions.append(min(1.0, max(0.0, (scale(number) - scale(low)) / span))
                         if isinstance(number, float) and (number > 0 or not log) else 0.5)
    return positions, [(0.0, short(low)), (1.0, short(high))]


def importance_png(importances: dict[str, float], title: str) -> bytes:
    names = list(importances)[::-1]  # most important on top
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(names) + 1.4))
    ax.barh(names, [importances[n] for n in names], color="tab:blue")
    for y, name in enumerate(names):
        ax.text(importances[name], y, f" {importances[name]:.2f}", va="center", fontsize=8)
    ax.set_xlim(0, max(1.0, max(importances.values()) * 1.15))
    ax.set_xlabel("fANOVA importance (share of the variance of the selection metric)")
    ax.set_title(title, fontsize=10)
    return png_bytes(fig)


def side_by_side_png(pictures: list[tuple[str, bytes]]) -> bytes | None:
    """Several PNGs (the best trials' test confusion matrices) in one row, each titled."""
    if not pictures:
        return None
    fig, axes = plt.subplots(1, len(pictures), figsize=(5.5 * len(pictures), 5), squeeze=False)
    for ax, (title, png) in zip(axes[0], pictures):
        ax.imshow(mpimg.imread(io.BytesIO(png), format="png"))
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    return png_bytes(fig)


def pareto_png(search: SearchRecord, points) -> bytes | None:
    """The trials on their objectives (each at its best epoch): two objectives a scatter with
    the front drawn as the steps between its members, three a scatter matrix. Grey: the other
    completed trials; red: the front; circled: the member exported."""
    objectives = search.objectives
    if points.empty or len(objectives) < 2:
        return None
    if len(objectives) == 2:
        fig, ax = plt.subplots(figsize=(6.5, 5))
        _pareto_panel(ax, points, objectives[0], objectives[1], steps=True)
        ax.legend(fontsize=8)
    else:
        fig, axes = plt.subplots(3, 3, figsize=(10, 9))
        for row, y in enumerate(objectives):
            for column, x in enumerate(objectives):
                ax = axes[row][column]
                if row == column:
                    ax.axis("off")
                    ax.text(0.5, 0.5, f"{x[0]}\n({x[1]})", ha="center", va="center", fontsize=11)
                    continue
                _pareto_panel(ax, points, x, y, steps=False)
        axes[0][1].legend(fontsize=8)
    fig.suptitle(f"{search.experiment}: {len(points)} trials, Pareto front of "
                 f"{int(points['pareto'].sum())} (each trial at its best epoch by {search.metric})", fontsize=10)
    return png_bytes(fig)


def _pareto_panel(ax, points, x: tuple[str, str], y: tuple[str, str], steps: bool) -> None:
    others, front = points[~points["pareto"]], points[points["pareto"]]
    ax.scatter(others[x[0]], others[y[0]], color="grey", alpha=0.6, s=22, label="other trials")
    ax.scatter(front[x[0]], front[y[0]], color="tab:red", s=30, label="Pareto front", zorder=3)
    if steps and len(front) > 1:
        # Between two members sorted on x, the front holds the better y until the next member.
        ordered = front.sort_values(x[0], ascending=x[1] == "min")
        ax.step(ordered[x[0]], ordered[y[0]], where="post", color="tab:red", alpha=0.6)
    chosen = points[points["selected"]]
    ax.scatter(chosen[x[0]], chosen[y[0]], s=160, facecolors="none", edgecolors="black", label="exported",
               zorder=4)
    for axis, (name, mode) in (("x", x), ("y", y)):
        values = points[name]
        if (values > 0).all() and values.max() > 10 * values.min():
            getattr(ax, f"set_{axis}scale")("log")
        getattr(ax, f"set_{axis}label")(f"{name} ({mode})", fontsize=8)
    ax.grid(alpha=0.3)
