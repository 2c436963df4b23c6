"""Paths and small helpers the tests share."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from search.record import ROLE, Role

REPO = Path(__file__).resolve().parent.parent
SPACES = REPO / "spaces"


def write_space(folder: Path, text: str, name: str = "space.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def search_and_trial_runs(client, experiment: str) -> tuple[list, list]:
    """The experiment's search runs and trial runs, as MLflow's client returns them
    (both empty while the experiment does not exist yet)."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return [], []
    runs = client.search_runs([found.experiment_id], max_results=1000)
    return ([r for r in runs if r.data.tags.get(ROLE) == Role.SEARCH],
            [r for r in runs if r.data.tags.get(ROLE) == Role.TRIAL])


# A user's own CSVs, with column names that are not the built-in files' ones.
REVIEW_WORDS = {"1": "broken awful refund", "2": "slow late meh", "10": "superb lovely perfect"}


def write_reviews(path: Path, per_class: int = 10, columns=("id", "review", "stars"),
                  labels=("10", "2", "1"), extra: list[tuple[str, str]] = ()) -> Path:
    """Product reviews rated "1", "2" or "10" stars: id, review, stars (quoted commas inside)."""
    rows = [(label, f"item {i}, {REVIEW_WORDS[label]}") for i in range(per_class) for label in labels]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for i, (label, text) in enumerate([*rows, *extra]):
            writer.writerow({"id": i, "review": text, "stars": label}.get(c, "") for c in columns)
    return path


def series_lines(rows: int = 400, freq: str = "1h", header=("stamp", "kwh", "temperature")) -> list[str]:
    """A CSV's lines: header, then a timestamp, a daily-cycling load and a temperature."""
    stamps = pd.date_range("2021-03-01", periods=rows, freq=freq)
    lines = [",".join(header)]
    for step, stamp in enumerate(stamps):
        values = [f"{stamp:%Y-%m-%d %H:%M:%S}", f"{100 + 10 * (step % 24) + step * 0.01:.2f}", f"{step % 7}.5"]
        lines.append(",".join(values[: len(header)]))
    return lines


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def make_trial(space: str, overrides: list[str], smoke: bool = False, gpu_share: float = 0.0):
    """A training.Trial of a shipped space's base config (with --set style overrides), as a
    trial worker builds it, without Ray."""
    from search.data import get_task

    from search.space.validation import load_spec
    from search.trial.training import Trial

    spec = load_spec(SPACES / space, overrides)
    task = get_task(spec.task)
    options = task.Options(**spec.data)
    return Trial(task, task.splits(task.load(options, smoke=smoke), options), spec.base_config(),
                 gpu_share=gpu_share)
