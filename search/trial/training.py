"""One trial's training, independent of Ray: build, fit epoch by epoch, score.

The Ray trainable, the best-trial evaluation and the overhead benchmark all run
this same code, so a search trains exactly what a plain loop would.

On a GPU the loop never waits for the device inside an epoch: the loss and the
correct counts are summed on the device and read once per epoch, the splits sit on
the device when they fit in the trial's memory share (batches are then gathered
there), and `train.compile` can compile the forward pass and the loss.
"""

from __future__ import annotations

import math
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from search.data import Splits, Task
from search.models import count_parameters, create_model
from search.space.mutations import OPTIMIZER_GROUP_KEYS
from search.space.spec import TrainSettings
from search.trial.gpu_memory import fits_on_device, limit_memory_to_share, out_of_memory_fails_the_trial
from search.trial.metrics import classification_scores, regression_scores
from search.trial.schedules import LearningRateSchedule
from search.tuning.pbt_schedule import schedule_rows, schedule_values

EVAL_BATCH = 1024
SPLIT_NAMES = ("train", "val", "test")


class TrialDiverged(RuntimeError):
    """The loss became NaN or infinite: the trial ends as failed, the search goes on."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# Optimizers with a fused CUDA kernel: one operation updates every parameter, where the
# default (foreach) takes about eight per step and reads each parameter's step counter on
# the host. At batch 32 a GPU trial is bound by launches, so this is the cheapest step to cut.
FUSED_ON_CUDA = frozenset({"adam", "adamw", "sgd", "adagrad"})


def build_optimizer(params, train: TrainSettings, device: torch.device) -> torch.optim.Optimizer:
    common: dict[str, Any] = {"lr": train.lr, "weight_decay": train.weight_decay}
    if device.type == "cuda" and train.optimizer in FUSED_ON_CUDA:
        common["fused"] = True
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
    if x.device.type == "cpu" and device.type == "cuda":
        # A copy from pageable memory makes the host wait for it; from pinned memory it
        # runs beside the GPU's work. (PyTorch's pinned-memory cache reuses the block once
        # the copy is done, as DataLoader's pin_memory does.)
        x = x.pin_memory()
    x = x.to(device, non_blocking=True)
    if x.dim() == 4:  # images: channels_last is faster for convolutions on CPU and GPU
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def resident(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A split as it stays on the GPU: images channels_last, so that a gathered batch
    already is and needs no copy per step. On the CPU the split is used in place."""
    if device.type == "cpu":
        return x
    # Laid out while copied: no second copy of the split on the GPU, even for a moment.
    return x.to(device, memory_format=torch.channels_last) if x.dim() == 4 else x.to(device)


def nbytes(tensors) -> int:
    return sum(t.element_size() * t.nelement() for t in tensors)


class SplitTensors:
    """The splits where the trial draws its batches from: on its device when they fit in a
    part of its memory share (uint8 images at 64 px: 22,500 take 276 MB), so a batch is
    gathered there without a copy per step; else in host memory, copied batch by batch."""

    def __init__(self, splits: Splits, device: torch.device, gpu_share: float):
        tensors = {name: getattr(splits, name) for name in SPLIT_NAMES}
        size = nbytes(t for pair in tensors.values() for t in pair)
        self.on_device = fits_on_device(size, device, gpu_share)
        if self.on_device:
            tensors = {name: (resident(x, device), resident(y, device)) for name, (x, y) in tensors.items()}
        self.tensors = tensors

    def __getitem__(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        return self.tensors[split]

    @property
    def device(self) -> torch.device:
        return self.tensors["train"][0].device


def compile_step(step, mode: str):
    """`train.compile`: the forward pass and the loss through torch.compile.

    dynamic=False: one fixed shape, which `reduce-overhead` needs to replay one CUDA graph
    per step; the training loop keeps that shape by leaving out each epoch's last smaller
    batch (see Trial.train_one_epoch).
    """
    if mode == "none":
        return step
    return torch.compile(step, mode=None if mode == "default" else mode, dynamic=False)


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
        return self.stopped

    @property
    def stopped(self) -> bool:
        # patience >= 1 (the spec's rule), so a trial that has not trained is never stopped.
        return self.patience is not None and self.bad_epochs >= self.patience


@dataclass
class TrialState:
    """Everything needed to continue a trial where it left off (the checkpoint's content).

    Tensors, numbers, strings, lists and dicts only, so a checkpoint loads with torch's
    weights-only unpickler (search/trial/checkpoints.py).
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    early_stopping: EarlyStopping
    schedule: LearningRateSchedule
    epoch: int = 0
    # Each epoch's metrics as epochs() yielded them, epoch 1 first: a trial continued from
    # this checkpoint reports its last epoch again (search/trial/trainable.py).
    results: list[dict[str, Any]] = field(default_factory=list)

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "early_stopping": vars(self.early_stopping).copy(),
            "lr_schedule": self.schedule.state_dict(),
            "epoch": self.epoch,
            "results": [dict(result) for result in self.results],
            # Dropout and augmentation draw from torch's global generators: a trial continued
            # from this checkpoint draws what it would have drawn had it never stopped, so it
            # trains to the same numbers as one that ran through (search.reproduce).
            "rng": torch.get_rng_state(),
            **({"cuda_rng": torch.cuda.get_rng_state()} if _on_cuda(self.model) else {}),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.early_stopping = EarlyStopping(**state["early_stopping"])
        self.schedule.load_state_dict(state["lr_schedule"])
        self.epoch = state["epoch"]
        self.results = [dict(result) for result in state.get("results", [])]  # none in older checkpoints
        if "rng" in state:  # none in older checkpoints
            torch.set_rng_state(state["rng"])
        if "cuda_rng" in state and _on_cuda(self.model):
            torch.cuda.set_rng_state(state["cuda_rng"])


def _on_cuda(model: nn.Module) -> bool:
    first = next(model.parameters(), None)
    return first is not None and first.device.type == "cuda"


class Trial:
    """A model, its data and its settings; `epochs()` yields one metrics dict per epoch."""

    def __init__(self, task: Task, splits: Splits, config: dict[str, Any], gpu_share: float = 0.0):
        self.task, self.splits = task, splits
        self.train_settings = TrainSettings(**config["train"])
        self.device, self.gpu_share = pick_device(gpu_share), gpu_share
        limit_memory_to_share(self.device, gpu_share)
        seed_everything(self.train_settings.seed)
        self.model_options = dict(config["model"])
        self.schedule = schedule_rows(config)  # a replayed pbt schedule's rows (search/tuning/pbt_schedule.py)
        with out_of_memory_fails_the_trial(self.device, gpu_share, "while moving the model and data to the GPU"):
            model = self._build_model(self.model_options)
            self.data = SplitTensors(splits, self.device, gpu_share)
        self.model_params = count_parameters(model)
        self.loss_fn = build_loss(task.kind, self.train_settings, splits).to(self.device)
        optimizer = build_optimizer(model.parameters(), self.train_settings, self.device)
        self.state = TrialState(model, optimizer, EarlyStopping(self.train_settings.patience),
                                LearningRateSchedule(optimizer, self.train_settings))
        self.forward_and_loss = compile_step(self._forward_and_loss, self.train_settings.compile)

    def _build_model(self, model_options: dict[str, Any]) -> nn.Module:
        options = dict(model_options)
        model = create_model(options.pop("name"), options, self.splits.model_inputs).to(self.device)
        if self.splits.train[0].dim() == 4:
            model = model.to(memory_format=torch.channels_last)
        return model

    def value_of(self, key: str) -> Any:
        """A dotted train.* or model.* key's value in force."""
        section, _, option = key.partition(".")
        return getattr(self.train_settings, option) if section == "train" else self.model_options[option]

    def set_hyperparameters(self, values: dict[str, Any]) -> None:
        """Changes dotted keys under the running trial (population-based training): a model option
        (one that keeps every parameter's shape) by building the network again around its weights
        and optimizer state; a train key in the loop's settings and, for the optimizer's own
        (lr, weight_decay, momentum), on its parameter groups, where its state stays as it is."""
        model = {k.removeprefix("model."): v for k, v in values.items() if k.startswith("model.")}
        train = {k.removeprefix("train."): v for k, v in values.items() if k.startswith("train.")}
        if any(self.model_options.get(option) != value for option, value in model.items()):
            state = self.state.state_dict()
            self.model_options = {**self.model_options, **model}
            network = self._build_model(self.model_options)
            optimizer = build_optimizer(network.parameters(), self.train_settings, self.device)
            self.state = TrialState(network, optimizer, self.state.early_stopping,
                                    LearningRateSchedule(optimizer, self.train_settings))
            self.state.load_state_dict(state)
        if train:
            self.train_settings = TrainSettings(**{**self.train_settings.model_dump(), **train})
            for group in self.state.optimizer.param_groups:
                for name in set(train) & set(OPTIMIZER_GROUP_KEYS) & set(group):
                    group[name] = train[name]

    def epochs(self) -> Iterator[dict[str, Any]]:
        # A trial continued from the checkpoint of the epoch it early-stopped at trains no more.
        while self.state.epoch < self.train_settings.epochs and not self.state.early_stopping.stopped:
            self.state.epoch += 1
            # A config that replays a pbt schedule trains each epoch under that epoch's values.
            self.set_hyperparameters(schedule_values(self.schedule, self.state.epoch))
            started = time.perf_counter()
            lr = self.state.schedule.lr
            with out_of_memory_fails_the_trial(self.device, self.gpu_share, f"at epoch {self.state.epoch}"):
                train_metrics = self.train_one_epoch()
                val_metrics = self.score("val")
            self.state.schedule.step(val_metrics["val_loss"])
            stop = self.state.early_stopping.update(val_metrics["val_loss"])
            metrics = {
                "epoch": self.state.epoch,
                **train_metrics,
                **val_metrics,
                "lr": lr,
                "epoch_time_s": time.perf_counter() - started,
                "model_params": self.model_params,
                "early_stopped": int(stop and self.state.epoch < self.train_settings.epochs),
            }
            self.state.results.append(metrics)
            yield metrics
            if stop:
                return

    def train_one_epoch(self) -> dict[str, float]:
        model, train = self.state.model, self.train_settings
        model.train()
        order = self.epoch_order()
        end = len(order)
        if train.compile != "none" and end >= train.batch_size:
            # A compiled step keeps one shape: the last smaller batch (fewer than batch_size
            # samples, different ones each epoch) is left out rather than compiled a second time.
            end -= end % train.batch_size
        # Kept on the device and read once per epoch: reading them each step (.item())
        # would make the host wait for the GPU at every step. Each step adds one launch for
        # its loss's slot and, classifying, one for its predicted classes.
        starts = range(0, end, train.batch_size)
        step_losses = torch.empty(len(starts), device=self.device)
        predicted = torch.empty(end, dtype=torch.int64, device=self.device) \
            if self.task.kind == "classification" else None
        for step, start in enumerate(starts):
            index = order[start:start + train.batch_size]
            _, out, loss = self.train_batch(index)
            step_losses[step] = loss.detach()
            if predicted is not None:
                torch.argmax(out.detach(), dim=1, out=predicted[start:start + len(index)])
        # float64, as Python's sum was; every batch but the last is full.
        last = end - starts[-1]
        sums = [step_losses[:-1].double().sum() * train.batch_size + step_losses[-1].double() * last]
        if predicted is not None:
            labels = to_device(self.data["train"][1][order[:end]], self.device)
            sums.append((predicted == labels).sum().double())
        totals = torch.stack(sums).tolist()  # the epoch's one wait for the device
        train_loss = totals[0] / end
        # Checked once per epoch, on the sum: a NaN or infinite loss at any step leaves it so.
        if not math.isfinite(train_loss):
            raise TrialDiverged(f"train_loss is {train_loss} at epoch {self.state.epoch}")
        metrics = {"train_loss": train_loss}
        if predicted is not None:
            metrics["train_acc"] = totals[1] / end
        return metrics

    def epoch_order(self) -> torch.Tensor:
        """This epoch's order of the training rows, on the data's device. Drawn from the
        trial's seed and epoch, so a resumed trial sees the same order; drawn on the CPU, so
        the order is the same on every device."""
        generator = torch.Generator().manual_seed(self.train_settings.seed * 100_003 + self.state.epoch)
        return torch.randperm(len(self.data["train"][1]), generator=generator).to(self.data.device)

    def train_batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One training step on the training rows `index`: (labels, outputs, loss), on the device."""
        x_all, y_all = self.data["train"]
        x, y = self._inputs(x_all[index]), to_device(y_all[index], self.device)
        if self.splits.train_transform is not None:
            x = self.splits.train_transform(x)
        out, loss = self._train_step(x, y)
        return y, out, loss

    def _forward_and_loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with autocast(self.train_settings, self.device):
            out = self.state.model(x)
            return out, self.loss_fn(out.float(), y)

    def _train_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step on one batch: the one place where the weights change."""
        if self.train_settings.compile == "reduce-overhead":
            torch.compiler.cudagraph_mark_step_begin()  # the last step's graph outputs are consumed
        out, loss = self.forward_and_loss(x, y)
        self.state.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.train_settings.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.state.model.parameters(), self.train_settings.grad_clip)
        self.state.optimizer.step()
        return out, loss

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
                outputs.append(model(self._inputs(x_all[start:start + EVAL_BATCH])).float())
        return torch.cat(outputs).cpu()  # one copy back, one wait for the device

    def score(self, split: str) -> dict[str, Any]:
        """`split`'s loss and scores under the shared names (val_loss, test_acc, ...)."""
        y = getattr(self.splits, split)[1]  # the host copy: the scores are computed there
        out = self.predict(self.data[split][0])
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
