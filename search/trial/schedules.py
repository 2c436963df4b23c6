"""The learning rate over a trial (`train.lr_schedule`), built from torch's schedulers.

Stepped once per epoch, as timm steps its schedules by default: an epoch trains at one
learning rate (the `lr` each epoch reports), and a trial continued from its end-of-epoch
checkpoint continues its schedule exactly.

- `none`: `train.lr` throughout (after the warm-up, if one is asked for).
- `cosine`: CosineAnnealingLR from `train.lr` towards 0 over the epochs after the warm-up.
- `plateau`: ReduceLROnPlateau on val_loss (`plateau_factor`, `plateau_patience`).
- `onecycle`: OneCycleLR, rising from lr/25 to `train.lr` over the warm-up (torch's 30% of
  the epochs unless `warmup_fraction` says otherwise), then annealing down.

The warm-up of the other schedules is LinearLR from lr/25 (OneCycleLR's default start)
to `train.lr` over round(warmup_fraction x epochs) epochs, chained with SequentialLR.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim.lr_scheduler import (
    CosineAnnealingLR,
    LinearLR,
    LRScheduler,
    OneCycleLR,
    ReduceLROnPlateau,
    SequentialLR,
)

from search.space.spec import TrainSettings

WARMUP_START_FACTOR = 1 / 25  # OneCycleLR's div_factor: every warm-up starts at lr/25
ONECYCLE_DEFAULT_WARMUP = 0.3  # OneCycleLR's pct_start


class LearningRateSchedule:
    """The optimizer's learning rate, epoch by epoch; `step` after each epoch's validation."""

    def __init__(self, optimizer: torch.optim.Optimizer, train: TrainSettings):
        self.optimizer = optimizer
        self.epochs_done = 0
        self.warmup = 0
        self.scheduler: LRScheduler | None = None
        self.plateau: ReduceLROnPlateau | None = None
        if train.lr_schedule == "onecycle":
            warmup = ONECYCLE_DEFAULT_WARMUP if train.warmup_fraction is None else train.warmup_fraction
            # One step more than the epochs: the last epoch still trains at a small learning
            # rate, and the floor (lr / 25 / 1e4) is where a next epoch would begin.
            # cycle_momentum off: the momentum (or Adam's beta1) stays what the spec says.
            self.scheduler = OneCycleLR(optimizer, max_lr=train.lr, total_steps=train.epochs + 1,
                                        pct_start=warmup, cycle_momentum=False)
            return
        self.warmup = train.warmup_epochs()
        stages: list[LRScheduler] = []
        if self.warmup:
            stages.append(LinearLR(optimizer, start_factor=WARMUP_START_FACTOR, total_iters=self.warmup))
        if train.lr_schedule == "cosine":
            # T_max counts the epochs after the warm-up: the last one trains just above 0.
            stages.append(CosineAnnealingLR(optimizer, T_max=train.epochs - self.warmup))
        if train.lr_schedule == "plateau":
            # SequentialLR cannot hold ReduceLROnPlateau (it steps on a metric), so it
            # takes over once the warm-up is done (see `step`).
            self.plateau = ReduceLROnPlateau(optimizer, mode="min", factor=train.plateau_factor,
                                             patience=train.plateau_patience)
        if len(stages) == 2:
            self.scheduler = SequentialLR(optimizer, stages, milestones=[self.warmup])
        elif stages:
            self.scheduler = stages[0]

    @property
    def lr(self) -> float:
        """The learning rate the next epoch trains at."""
        return float(self.optimizer.param_groups[0]["lr"])

    def step(self, val_loss: float) -> None:
        self.epochs_done += 1
        if self.plateau is not None and self.epochs_done > self.warmup:
            self.plateau.step(val_loss)
        elif self.scheduler is not None:
            self.scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        # Numbers, lists and dicts only, so a checkpoint loads with weights_only=True.
        return {"epochs_done": self.epochs_done,
                "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
                "plateau": self.plateau.state_dict() if self.plateau is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epochs_done = state["epochs_done"]
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.plateau is not None:
            self.plateau.load_state_dict(state["plateau"])
