"""Pictures logged to MLflow: learning curves and confusion matrices (matplotlib figures)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display on servers and in workers
import matplotlib.pyplot as plt  # noqa: E402

# How every picture is saved as PNG, to MLflow (MlflowClient.log_figure) and to files.
SAVE_KWARGS = {"dpi": 100, "bbox_inches": "tight"}


def png_bytes(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", **SAVE_KWARGS)
    plt.close(fig)
    return buffer.getvalue()


def learning_curve_figure(history: list[dict], title: str):
    """Train and validation loss per epoch, and accuracy when the task has it."""
    epochs = [row["epoch"] for row in history]
    has_acc = all("val_acc" in row for row in history)
    fig, axes = plt.subplots(1, 2 if has_acc else 1, figsize=(10 if has_acc else 5.5, 3.8), squeeze=False)
    panels = [("loss", "train_loss", "val_loss")] + ([("accuracy", "train_acc", "val_acc")] if has_acc else [])
    for ax, (label, train_key, val_key) in zip(axes[0], panels):
        ax.plot(epochs, [row[train_key] for row in history], "o-", label="train")
        ax.plot(epochs, [row[val_key] for row in history], "o-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    return fig


def confusion_matrix_figure(matrix: list[list[int]], class_names: list[str], title: str):
    size = max(3.5, 0.6 * len(class_names) + 1.5)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    peak = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            ax.text(j, i, str(count), ha="center", va="center", color="white" if count > peak / 2 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set_title(title)
    return fig
