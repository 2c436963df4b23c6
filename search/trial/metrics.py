"""Scores by task kind, under the shared names that every trial and the comparison use.

Classification: accuracy and macro-averaged F1, precision and recall (every class
counts the same, so the minority sentiment classes are not drowned out).
Regression: MSE on the scaled target (the selection loss, as the report), MAE and
RMSE in the target's own units.
"""

from __future__ import annotations

import numpy as np


def classification_scores(logits: np.ndarray, labels: np.ndarray, num_classes: int) -> dict:
    # Imported on first use: a regression trial's worker never needs scikit-learn, whose
    # import is a second of every fresh worker's start.
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score, recall_score

    predicted = logits.argmax(axis=1)
    kwargs = {"average": "macro", "labels": list(range(num_classes)), "zero_division": 0}
    return {
        "acc": float(accuracy_score(labels, predicted)),
        "f1": float(f1_score(labels, predicted, **kwargs)),
        "precision": float(precision_score(labels, predicted, **kwargs)),
        "recall": float(recall_score(labels, predicted, **kwargs)),
        "confusion": confusion_matrix(labels, predicted, labels=list(range(num_classes))).tolist(),
    }


def regression_scores(predicted: np.ndarray, target: np.ndarray, scale: float) -> dict:
    # reshape: a model or a scikit-learn estimator may drop a single target column,
    # and numpy would then broadcast N x 1 against N into an N x N error matrix.
    err = np.asarray(predicted, dtype=np.float64).reshape(target.shape) - target
    mse = float(np.mean(err**2))
    return {"mse": mse, "mae": float(np.mean(np.abs(err)) * scale), "rmse": float(np.sqrt(mse) * scale)}
