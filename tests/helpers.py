"""Paths and small helpers the tests share."""

from __future__ import annotations

from pathlib import Path

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
