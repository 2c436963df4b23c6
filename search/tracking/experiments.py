"""MLflow experiments the platform creates, tagged as model training for MLflow's UI.

MLflow 3's UI opens an experiment on the pages of its kind: GenAI (an overview of
traces, which has nothing of ours) or model training (the runs table). It reads the kind
from the experiment tag `mlflow.experimentKind` ("custom_model_development" is model
training), except where its "GenAI | Model training" switch decides, as in 3.17.2: there
the links the platform prints turn the switch to model training (record.UI_TRAINING_VIEW).
"""

from __future__ import annotations

from mlflow.tracking import MlflowClient

from search.record import EXPERIMENT_KIND as KIND_TAG
from search.record import TRAINING_EXPERIMENT as TRAINING

# MLflow 3.17.2's UI takes an experiment's kind from its own "GenAI | Model training"
# switch (remembered per browser, GenAI at first) rather than from the tag; a link's
# query sets the switch.
UI_TRAINING_VIEW = "workflowType=machine_learning"


def experiment_for_runs(client: MlflowClient, name: str, tags: dict[str, str] | None = None) -> str:
    """The id of experiment `name`, created (tagged) if new, tagged if it lacks the kind."""
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return client.create_experiment(name, tags={**(tags or {}), KIND_TAG: TRAINING})
    if experiment.tags.get(KIND_TAG) != TRAINING:
        client.set_experiment_tag(experiment.experiment_id, KIND_TAG, TRAINING)
    return experiment.experiment_id
