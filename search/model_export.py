"""The best trial's network, handed back as an MLflow PyTorch model.

Logged on the search run as `best_model` (mlflow.pytorch.log_model, with a signature
and an input example from the test split) and registered in MLflow's Model Registry
under the experiment's name, one new version per search. Beside the network, in the
model's `extra_files`, travels `preprocessing.json`: what `search.predict` needs to turn
raw inputs (texts, a series' recent values, images) into model inputs and the outputs
into predictions (the vocabulary, the scaler, the class names).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from search.evaluate import Evaluation
from search.preflight import user_import_paths
from search.record import BEST_MODEL as MODEL_NAME
from search.record import PREPROCESSING as PREPROCESSING_FILE
from search.spec import Spec
from search.user_code import shipped_paths

EXAMPLES = 5  # test inputs in the input example

log = logging.getLogger(__name__)


@dataclass
class ExportedModel:
    model_uri: str  # runs:/<search run id>/best_model
    registered: str | None  # models:/<name>/<version>, or None where the store has no registry
    warning: str | None = None
    serialization: str = "pt2"


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
    """Logs and registers the best model; a store without a registry gets a warning, not an error."""
    from mlflow.models import infer_signature

    examples, outputs = test_examples(evaluation)
    with tempfile.TemporaryDirectory() as folder:
        extra = os.path.join(folder, PREPROCESSING_FILE)
        with open(extra, "w") as handle:
            json.dump(preprocessing_document(spec, task, loaded, evaluation), handle, indent=1)
        model = evaluation.trial.state.model
        arguments = dict(
            name=MODEL_NAME, signature=infer_signature(examples, outputs), input_example=examples,
            extra_files=[extra], serialization_format=serialization_format(model, examples),
            code_paths=shipped_paths(user_import_paths(spec)) or None,
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", f"numpy=={np.__version__}"],
        )
        outcome: dict[str, Any] = {}
        # MLflow's log_model works on the fluent API's active run, which is per thread: a
        # thread of its own keeps it apart from a run the caller (a notebook) may have open.
        worker = threading.Thread(target=_log_and_register, args=(
            tracker.uri, tracker.run_id, spec.experiment, model, arguments, outcome))
        worker.start()
        worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["exported"]


def _log_and_register(uri: str, run_id: str, registered_name: str, model, arguments: dict,
                      outcome: dict) -> None:
    import mlflow
    from mlflow.exceptions import MlflowException

    from search.mlflow_internals import use_tracking_uri

    try:
        with use_tracking_uri(uri), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MLflow's advice on pip pins and input examples
            mlflow.start_run(run_id=run_id)
            try:
                logged = mlflow.pytorch.log_model(model, **arguments)
            finally:
                # Leaves the search run as it is: the pipeline ends it (FINISHED) just after.
                mlflow.end_run(status="RUNNING")
            model_uri = f"runs:/{run_id}/{MODEL_NAME}"
            try:
                # By the logged model's own URI (models:/m-...), as MLflow 3 keeps models: a
                # runs:/ URI makes MLflow look for run artifacts first, find none, and warn.
                version = mlflow.register_model(logged.model_uri, registered_name, await_registration_for=0)
                registered, warning = f"models:/{registered_name}/{version.version}", None
            except MlflowException as err:  # a store without a registry, a name it refuses
                registered = None
                warning = (f"the best model is logged on the search run ({model_uri}) but not registered "
                           f"as {registered_name!r}: {str(err).splitlines()[0]}")
        outcome["exported"] = ExportedModel(model_uri, registered, warning, arguments["serialization_format"])
    except Exception as err:  # noqa: BLE001 - handed to the caller's thread
        outcome["error"] = err
