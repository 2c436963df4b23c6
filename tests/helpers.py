"""Paths and small helpers the tests share."""

from __future__ import annotations

from pathlib import Path

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
    return ([r for r in runs if r.data.tags.get("search.role") == "search"],
            [r for r in runs if r.data.tags.get("search.role") == "trial"])


def make_trial(space: str, overrides: list[str], smoke: bool = False, gpu_share: float = 0.0):
    """A training.Trial of a shipped space's base config (with --set style overrides), as a
    trial worker builds it, without Ray."""
    from search.data import get_task

    from search.spec import load_spec
    from search.training import Trial

    spec = load_spec(SPACES / space, overrides)
    task = get_task(spec.task)
    options = task.Options(**spec.data)
    return Trial(task, task.splits(task.load(options, smoke=smoke), options), spec.base_config(),
                 gpu_share=gpu_share)
