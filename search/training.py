"""One trial's training, independent of Ray: build, fit epoch by epoch, score.

The Ray trainable, the best-trial evaluation and the overhead benchmark all run
this same code, so a search trains exactly what a plain loop would.
"""

from __future__ import annotations

import math
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from search.data import Splits, Task
from search.metrics import classification_scores, regression_scores
from search.models import count_parameters, create_model
from search.schedules import LearningRateSchedule
from search.spec import TrainSettings

EVAL_BATCH = 1024


class TrialDiverged(RuntimeError):
    """The loss became NaN or infinite: the trial ends as failed, the search goes on."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_optimizer(params, train: TrainSettings) -> torch.optim.Optimizer:
    common = {"lr": train.lr, "weight_decay": train.weight_decay}
    if train.optimizer == "adam":
        return torch.optim.Adam(params, **common)
    if train.optimizer == "adamw":
        return torch.optim.AdamW(params, **common)
    if train.optimizer == "sgd":
        return torch.optim.SGD(params, momentum=train.momentum, **common)
    if train.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, momentum=train.momentum, **common)
    if train.optimizer == "adagrad":
        return torch.optim.Adagrad(params, **common)
    raise ValueError(f"unknown optimizer {train.optimizer!r}")


def build_loss(kind: str, train: TrainSettings, splits: Splits) -> nn.Module:
    if kind == "regression":
        return nn.MSELoss()
    weight = None
    if train.class_weights:
        counts = torch.bincount(splits.train[1], minlength=len(splits.class_names or [])).float()
        weight = counts.sum() / (len(counts) * counts.clamp(min=1))  # inverse frequency, mean 1
    return nn.CrossEntropyLoss(weight=weight)


def pick_device(gpu_share: float) -> torch.device:
    # Ray sets CUDA_VISIBLE_DEVICES to the GPU it assigned, so cuda:0 is that one.
    if gpu_share > 0 and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def autocast(train: TrainSettings, device: torch.device):
    if train.precision == "bf16" and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    if x.dim() == 4:  # images: channels_last is faster for convolutions on CPU and GPU
        x = x.contiguous(memory_format=torch.channels_last)
    return x


@dataclass
class EarlyStopping:
    """The report's loop: stop after `patience` epochs without a lower val_loss."""

    patience: int | None
    best: float = math.inf
    bad_epochs: int = 0

    def update(self, val_loss: float) -> bool:
        if val_loss < self.best:
            self.best, self.bad_epochs = val_loss, 0
        else:
            self.bad_epochs += 1
        return self.patience is not None and self.bad_epochs >= self.patience


@dataclass
class TrialState:
    """Everything needed to continue a trial where it left off (the checkpoint's content)."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    early_stopping: EarlyStopping
    schedule: LearningRateSchedule
    epoch: int = 0

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "early_stopping": vars(self.early_stopping).copy(),
            "lr_schedule": self.schedule.state_dict(),
            "epoch": self.epoch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.early_stopping = EarlyStopping(**state["early_stopping"])
        self.schedule.load_state_dict(state["lr_schedule"])
        self.epoch = state["epoch"]


class Trial:
    """A model, its data and its settings; `epochs()` yields one metrics dict per epoch."""

    def __init__(self, task: Task, splits: Splits, config: dict[str, Any], gpu_share: float = 0.0):
        self.task, self.splits = task, splits
        self.train_settings = TrainSettings(**config["train"])
        self.device = pick_device(gpu_share)
        seed_everything(self.train_settings.seed)
        options = dict(config["model"])
        model = create_model(options.pop("name"), options, splits.model_inputs).to(self.device)
        if splits.train[0].dim() == 4:
            model = model.to(memory_format=torch.channels_last)
        self.model_params = count_parameters(model)
        self.loss_fn = build_loss(task.kind, self.train_settings, splits).to(self.device)
        optimizer = build_optimizer(model.parameters(), self.train_settings)
        self.state = TrialState(model, optimizer, EarlyStopping(self.train_settings.patience),
                                LearningRateSchedule(optimizer, self.train_settings))

    def epochs(self) -> Iterator[dict[str, float]]:
        while self.state.epoch < self.train_settings.epochs:
            self.state.epoch += 1
            started = time.perf_counter()
            lr = self.state.schedule.lr
            train_metrics = self._train_one_epoch()
            val_metrics = self.score("val")
            self.state.schedule.step(val_metrics["val_loss"])
            stop = self.state.early_stopping.update(val_metrics["val_loss"])
            yield {
                "epoch": self.state.epoch,
                **train_metrics,
                **val_metrics,
                "lr": lr,
                "epoch_time_s": time.perf_counter() - started,
                "model_params": self.model_params,
                "early_stopped": int(stop and self.state.epoch < self.train_settings.epochs),
            }
            if stop:
                return

    def _train_one_epoch(self) -> dict[str, float]:
        model, train = self.state.model, self.train_settings
        model.train()
        x_all, y_all = self.splits.train
        # Per-epoch shuffling from the trial's seed and epoch, so a resumed trial sees the same order.
        generator = torch.Generator().manual_seed(train.seed * 100_003 + self.state.epoch)
        order = torch.randperm(len(x_all), generator=generator)
        total_loss, correct, seen = 0.0, 0, 0
        for start in range(0, len(order), train.batch_size):
            index = order[start:start + train.batch_size]
            x, y = self._inputs(x_all[index]), y_all[index].to(self.device)
            if self.splits.train_transform is not None:
                x = self.splits.train_transform(x)
            with autocast(train, self.device):
                out = model(x)
                loss = self.loss_fn(out.float(), y)
            if not torch.isfinite(loss):
                raise TrialDiverged(f"train_loss is {loss.item()} at epoch {self.state.epoch}")
            self.state.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if train.grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), train.grad_clip)
            self.state.optimizer.step()
            total_loss += loss.item() * len(index)
            seen += len(index)
            if self.task.kind == "classification":
                correct += (out.argmax(dim=1) == y).sum().item()
        metrics = {"train_loss": total_loss / seen}
        if self.task.kind == "classification":
            metrics["train_acc"] = correct / seen
        return metrics

    def _inputs(self, x: torch.Tensor) -> torch.Tensor:
        x = to_device(x, self.device)
        return self.splits.batch_transform(x) if self.splits.batch_transform is not None else x

    @torch.no_grad()
    def predict(self, x_all: torch.Tensor) -> torch.Tensor:
        model = self.state.model
        model.eval()
        outputs = []
        for start in range(0, len(x_all), EVAL_BATCH):
            with autocast(self.train_settings, self.device):
                outputs.append(model(self._inputs(x_all[start:start + EVAL_BATCH])).float().cpu())
        return torch.cat(outputs)

    def score(self, split: str) -> dict[str, Any]:
        """`split`'s loss and scores under the shared names (val_loss, test_acc, ...)."""
        x, y = getattr(self.splits, split)
        out = self.predict(x)
        loss = nn.functional.cross_entropy(out, y).item() if self.task.kind == "classification" \
            else nn.functional.mse_loss(out, y).item()
        if not math.isfinite(loss):
            raise TrialDiverged(f"{split}_loss is {loss} at epoch {self.state.epoch}")
        if self.task.kind == "classification":
            scores = classification_scores(out.numpy(), y.numpy(), len(self.splits.class_names))
            wanted = ("acc", "f1", "confusion") if split == "val" else \
                ("acc", "f1", "precision", "recall", "confusion")
        else:
            scores = regression_scores(out.numpy(), y.numpy(), self.splits.target_scale)
            wanted = ("mae", "rmse") if split == "val" else ("mse", "mae", "rmse")
        return {f"{split}_loss": loss, **{f"{split}_{k}": scores[k] for k in wanted}}
