"""The best trial's network, handed back as an MLflow PyTorch model.

Saved as an MLflow PyTorch model (mlflow.pytorch.save_model, with a signature and an
input example from the test split) and logged the way MLflow 3 logs a model: a LoggedModel
named `best_model` whose source is the search run (the experiment's Models tab lists it,
and `runs:/<search run id>/best_model` resolves to it), registered by its model URI
(`models:/<model id>`) in MLflow's Model Registry under the experiment's name, one new
version per search, which search/tracking/champion.py makes the challenger and, where it
earns it, the champion. Beside the network, in the model's `extra_files`, travels
`preprocessing.json`: what `search.predict` needs to turn raw inputs (texts, a series'
recent values, images) into model inputs and the outputs into predictions (the
vocabulary, the scaler, the class names).

Why not mlflow.pytorch.log_model: it writes to MLflow at once, and a search's record goes
through the spool (search/tracking/record_writer.py), so an outage never stops the search;
the model is saved here and the steps log_model takes are made by the record's writer.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from search import record
from search.cluster.user_code import shipped_paths
from search.record import BEST_MODEL as MODEL_NAME
from search.record import PREPROCESSING as PREPROCESSING_FILE
from search.space.spec import Spec
from search.tracking.mlflow_internals import use_tracking_uri
from search.tracking.record_writer import Deferred
from search.trial.preflight import user_import_paths
from search.tuning.evaluate import Evaluation

EXAMPLES = 5  # test inputs in the input example

log = logging.getLogger(__name__)


@dataclass
class ExportedModel:
    model_uri: str  # runs:/<search run id>/best_model
    registration: Deferred  # register_model's outcome, once the record has reached MLflow
    serialization: str = "pt2"

    @property
    def registered(self) -> str | None:
        """models:/<name>/<version>, or None where the store has no registry (or not yet)."""
        return (self.registration.result or {}).get("registered")


def preprocessing_document(spec: Spec, task, loaded: Any, evaluation: Evaluation) -> dict[str, Any]:
    options = task.Options(**evaluation.config["data"])
    return {"task": spec.task, "data": evaluation.config["data"], "model": evaluation.config["model"],
            **task.preprocessing(loaded, options)}


def test_examples(evaluation: Evaluation) -> tuple[np.ndarray, np.ndarray]:
    """The first test inputs as the model takes them, and its outputs on them."""
    splits = evaluation.trial.splits
    inputs = splits.test[0][:EXAMPLES]
    if splits.batch_transform is not None:  # uint8 pixels -> the normalized floats the model reads
        inputs = splits.batch_transform(inputs)
    model = evaluation.trial.state.model.cpu().eval()
    with torch.no_grad():
        outputs = model(inputs).float()
    return inputs.contiguous().numpy(), outputs.numpy()


def serialization_format(model: torch.nn.Module, examples: np.ndarray) -> str:
    """MLflow's default, "pt2" (torch.export: a graph and weights, loaded without the model's
    code), where the network exports; "pickle" (the module itself: loading needs its code,
    the platform's or the user's, which travels as code_paths) where it does not. Packed
    LSTM sequences do not export. Tried here first, with the dynamic batch dimension MLflow
    asks for, so a failed export leaves no half-logged model behind."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.export.export(model, (torch.from_numpy(examples),),
                                dynamic_shapes=[{0: torch.export.Dim.AUTO}])
    except Exception as err:  # noqa: BLE001 - any export failure means: keep the module as it is
        log.info("best model does not export with torch.export (%s); saving it pickled", err)
        return "pickle"
    return "pt2"


def log_best_model(tracker, spec: Spec, task, loaded: Any, evaluation: Evaluation) -> ExportedModel:
    """Logs the model on the search run and registers it (search/tracking/champion.py judges the new
    version). Saved here, uploaded and registered in the record's order: the upload and the
    registration go through the spool like every other write (search/tracking/record_writer.py)."""
    import mlflow
    from mlflow.models import infer_signature

    from search.tracking.record_writer import in_order_with_folder
    from search.tuning.yardsticks import headline_metric

    examples, outputs = test_examples(evaluation)
    model = evaluation.trial.state.model
    serialization = serialization_format(model, examples)
    with tempfile.TemporaryDirectory() as folder:
        extra = os.path.join(folder, PREPROCESSING_FILE)
        with open(extra, "w") as handle:
            json.dump(preprocessing_document(spec, task, loaded, evaluation), handle, indent=1)
        saved = os.path.join(folder, MODEL_NAME)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MLflow's advice on pip pins and input examples
            mlflow.pytorch.save_model(
                model, saved, signature=infer_signature(examples, outputs), input_example=examples,
                extra_files=[extra], serialization_format=serialization,
                code_paths=shipped_paths(user_import_paths(spec)) or None,
                pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", f"numpy=={np.__version__}"])
        metric = headline_metric(spec.kind)
        value = evaluation.test.get(metric)
        digest = tracker.data.digest if tracker.data is not None else None
        registration = in_order_with_folder(tracker.client, log_and_register, saved, tracker.run_id,
                                            spec.experiment, metric, value, digest, dict(evaluation.baselines))
    return ExportedModel(f"runs:/{tracker.run_id}/{MODEL_NAME}", registration, serialization)


def log_and_register(client, folder: str, run_id: str, name: str, metric: str, value: float | None,
                     digest: str | None, baselines: dict[str, float]) -> dict[str, Any]:
    """The saved model in `folder` as the search run's LoggedModel, then a new registry version of
    it. Run by the record's writer, again after an outage or a restart: each step finds what an
    earlier try made rather than making it twice."""
    from mlflow.exceptions import MlflowException

    from search.tracking.record_writer import is_outage, say

    try:
        model_id = log_logged_model(client, folder, run_id)
    except MlflowException as err:
        if is_outage(err):
            raise  # the writer tries again once MLflow answers
        warning = f"the best model was not logged on the search run {run_id}: {str(err).splitlines()[0]}"
        say(f"warning: {warning}")
        return {"registered": None, "warning": warning}
    return register_model(client, run_id, model_id, name, metric, value, digest, baselines)


def log_logged_model(client, folder: str, run_id: str) -> str:
    """What mlflow.pytorch.log_model makes, from a model already saved: a LoggedModel named
    best_model with the search run as its source and output, its params the run's, its MLmodel
    naming it, its files uploaded, READY. Its id."""
    from mlflow.entities import LoggedModelOutput, LoggedModelStatus
    from mlflow.models import Model

    run = client.get_run(run_id)
    experiment_id = run.info.experiment_id
    made = client.search_logged_models(
        experiment_ids=[experiment_id], filter_string=f"name = '{MODEL_NAME}' AND source_run_id = '{run_id}'")
    logged = made[0] if made else client.create_logged_model(experiment_id, name=MODEL_NAME, source_run_id=run_id,
                                                             params=dict(run.data.params))
    if logged.status == LoggedModelStatus.READY:
        return logged.model_id
    if logged.model_id not in {output.model_id for output in (run.outputs.model_outputs if run.outputs else [])}:
        client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, step=0)])
    mlmodel = Model.load(os.path.join(folder, "MLmodel"))
    mlmodel.model_id = mlmodel.model_uuid = logged.model_id
    mlmodel.run_id, mlmodel.artifact_path = run_id, logged.artifact_location
    mlmodel.save(os.path.join(folder, "MLmodel"))
    client.log_model_artifacts(logged.model_id, folder)
    client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
    return logged.model_id


def register_model(client, run_id: str, model_id: str, name: str, metric: str, value: float | None,
                   digest: str | None, baselines: dict[str, float]) -> dict[str, Any]:
    """A new version of `name` from the search run's LoggedModel, by its model URI, with its
    aliases; a store without a registry, or a name it refuses, leaves the model on the run, with
    a warning. A version of this run already there (an earlier try) is kept."""
    from mlflow.exceptions import MlflowException

    from search.tracking.champion import Judged, judge_version
    from search.tracking.record_writer import is_outage, say

    model_uri = f"runs:/{run_id}/{MODEL_NAME}"
    try:
        try:
            client.create_registered_model(name)
        except MlflowException as err:
            if err.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
                raise
        existing = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
        if existing:
            version = existing[0]
        else:
            with use_tracking_uri(client.tracking_uri):  # where the registry looks the model up
                version = client.create_model_version(name, f"models:/{model_id}", run_id=run_id,
                                                      model_id=model_id)
    except MlflowException as err:
        if is_outage(err):
            raise  # the writer tries again once MLflow answers
        warning = (f"the best model is logged on the search run ({model_uri}) but not registered "
                   f"as {name!r}: {str(err).splitlines()[0]}")
        say(f"warning: {warning}")
        return {"registered": None, "warning": warning}
    outcome = {"registered": f"models:/{name}/{version.version}"}
    if value is not None:
        decision = judge_version(client, name, Judged(str(version.version), metric, float(value), digest),
                                 baselines)
        outcome["decision"] = decision.reason
        say(f"registered {name} version {version.version}, alias {record.CHALLENGER}; {decision.reason}")
    return outcome
