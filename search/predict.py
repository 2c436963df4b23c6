"""Predictions from a search's best model on raw inputs: texts, a series' recent values, images.

    from search.predict import load_predictor
    predict = load_predictor("models:/bilstm_sentiment/3")      # or "runs:/<search run id>/best_model"
    predict(["@united thanks, great flight!", "@united lost my bag again"])   # ['positive', 'negative']

The model (mlflow.pytorch) reads model inputs: token ids, a scaled window, normalized
pixels. `preprocessing.json`, logged with it, holds what the search fitted on the
training data (the vocabulary, the scaler, the class names), and the task that made it
turns raw inputs into those model inputs and the outputs back into class names or values
in the series' own units, exactly as in training.

    python -m search.predict MODEL_URI INPUT ... [--tracking-uri URI]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from typing import Any

import torch

from search.errors import SpecError
from search.tracking.model_export import PREPROCESSING_FILE

BATCH = 1024


@dataclass
class Predictor:
    """A search's model with the preprocessing it was trained with: call it on raw inputs.

    `predict(raw)` gives class names (classification) or values in the series' own units
    (regression, a row per series and a value per step of the horizon).

    Attributes:
        model: The network, in eval mode.
        preprocessing: What the search fitted on the training data (`preprocessing.json`).
        task: The task that made the model; it encodes raw inputs and decodes outputs.
    """

    model: torch.nn.Module
    preprocessing: dict[str, Any]
    task: Any

    def inputs(self, raw: Any) -> torch.Tensor:
        """Raw inputs as the batch of model inputs the network reads."""
        return self.task.encode_raw(self.preprocessing, raw)

    @torch.no_grad()
    def outputs(self, raw: Any) -> torch.Tensor:
        """The network's raw outputs (class scores, scaled values) for raw inputs."""
        x = self.inputs(raw)
        return torch.cat([self.model(x[i:i + BATCH]).float() for i in range(0, len(x), BATCH)])

    def __call__(self, raw: Any) -> list:
        return self.task.decode_outputs(self.preprocessing, self.outputs(raw))


def load_predictor(model_uri: str, tracking_uri: str | None = None) -> Predictor:
    """The model at `model_uri` with its preprocessing, ready for raw inputs.

    Args:
        model_uri: `runs:/<search run id>/best_model`, `models:/<name>/<version>`,
            `models:/<name>@champion`, or a local folder.
        tracking_uri: The MLflow store, where it is not MLflow's current one.

    Returns:
        A callable: raw texts, a series' recent values or images in, predictions out.
    """
    import mlflow

    from search.data import get_task

    folder = mlflow.artifacts.download_artifacts(model_uri, tracking_uri=tracking_uri, registry_uri=tracking_uri)
    model = mlflow.pytorch.load_model(folder)
    try:
        model.eval()  # a pickled module: dropout off
    except NotImplementedError:
        pass  # an exported graph (pt2) was traced in eval mode and has no train mode to leave
    with open(os.path.join(folder, "extra_files", PREPROCESSING_FILE)) as handle:
        preprocessing = json.load(handle)
    return Predictor(model, preprocessing, get_task(preprocessing["task"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m search.predict",
                                     description="Predictions of a search's best model on raw inputs.")
    parser.add_argument("model_uri", help="runs:/<search run id>/best_model or models:/<name>/<version>")
    parser.add_argument("inputs", nargs="+", help="texts (text tasks), image files (image tasks), or one "
                                                  "series' recent values, oldest first (series tasks)")
    parser.add_argument("--tracking-uri", default="sqlite:///mlflow.db", metavar="URI")
    args = parser.parse_args(argv)
    try:
        predictor = load_predictor(args.model_uri, args.tracking_uri)
    except Exception as err:  # noqa: BLE001 - an unknown URI, a missing store: one line
        print(f"error: {args.model_uri}: {type(err).__name__}: {str(err).splitlines()[0]}", file=sys.stderr)
        return SpecError.exit_code
    raw: Any = args.inputs
    if predictor.task.kind == "regression":
        try:
            raw = [float(value) for value in args.inputs]
        except ValueError as err:
            print(f"error: inputs: a series' values are numbers ({err})", file=sys.stderr)
            return SpecError.exit_code
    try:
        predictions = predictor(raw)
    except ValueError as err:
        print(f"error: inputs: {err}", file=sys.stderr)
        return SpecError.exit_code
    for prediction in predictions:
        print(prediction)
    return 0


if __name__ == "__main__":
    sys.exit(main())
