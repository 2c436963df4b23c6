"""MLflow experiments the platform creates, tagged so MLflow's UI opens them on their runs.

MLflow 3's UI opens an experiment on the page its `mlflow.experimentKind` tag names and,
without the tag, guesses from the runs (often the GenAI overview, which has nothing of
ours). "custom_model_development" is the value the installed UI maps to model training.
"""

from __future__ import annotations

from mlflow.tracking import MlflowClient

from search.record import EXPERIMENT_KIND as KIND_TAG
from search.record import TRAINING_EXPERIMENT as TRAINING


def experiment_for_runs(client: MlflowClient, name: str, tags: dict[str, str] | None = None) -> str:
    """The id of experiment `name`, created (tagged) if new, tagged if it lacks the kind."""
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return client.create_experiment(name, tags={**(tags or {}), KIND_TAG: TRAINING})
    if experiment.tags.get(KIND_TAG) != TRAINING:
        client.set_experiment_tag(experiment.experiment_id, KIND_TAG, TRAINING)
    return experiment.experiment_id
