"""Tensor operations one training step sends to the device: the platform's Trial against
the bare loop of bench/gpu.py.

    python bench/step_ops.py            # about 15 s, on any machine; no GPU needed
    python bench/step_ops.py --record   # the figures into bench/results.json

Why count them: at the image spaces' batch 32 a trial on a GPU is bound by launching
kernels, not by the GPU's arithmetic (BENCHMARKS.md, GPU section: the Trial and the bare
loop are within 1% of each other at batch 128 and not at batch 32), so a step's time there
follows the number of operations it sends. Which operations a step sends does not depend
on the device or the batch size, so they are counted here exactly, on the CPU, with
PyTorch's dispatcher (TorchDispatchMode: every tensor operation below autograd, the
backward pass's included). Views (no kernel) and the profiler's marks are left out. Reads
of a scalar on the host (`_local_scalar_dense`: Adam's step counters when it is not fused)
launch nothing and are counted apart.

The optimizers are built as on a GPU: the Trial's (search.trial.training.build_optimizer for a
CUDA device: fused Adam) and the bare loop's PyTorch default there (foreach), plus the bare
loop with fused Adam, which isolates what the Trial's own loop adds. The recurrent
networks are left out: on the CPU nn.LSTM and nn.RNN run step by step, on a GPU as a few
cuDNN calls, so their counts here would say nothing about a GPU.

A Trial's ops per step come from whole epochs at two batch sizes over the same data,
(ops_a - ops_b) / (steps_a - steps_b), so the ops made once per epoch (the order, the
sums) drop out. The bare loop's step is counted directly.
"""

from __future__ import annotations

import argparse
import collections
import functools
import sys
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu import bare_step  # noqa: E402
from results import record  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
# The shipped space of each network, made small (sizes change no count). The images: 48,
# 36 of them for training: 9 steps of 4 or 3 of 12. simple_rnn counts the loop only.
SMALL_IMAGES = ["data.image_size=32", "data.limit_per_class=16", "data.augment=false"]
CASES = {"resnet18": ("spaces/resnet18.yaml", SMALL_IMAGES),
         "vgg13": ("spaces/vgg13_regularization.yaml", SMALL_IMAGES),
         "simple_rnn": ("spaces/rnn_units.yaml", ["data.lookback=12", "model.hidden_size=8", "model.num_layers=1"])}
IMAGE_CASES = ("resnet18", "vgg13")
BATCHES = (4, 12)
HOST_READS = "aten._local_scalar_dense.default"
GPU = torch.device("cuda")  # only named: the optimizers are built as build_optimizer would there


class DispatchedOps(TorchDispatchMode):
    """Counts the tensor operations dispatched while active, by name."""

    def __init__(self):
        super().__init__()
        self.counts: collections.Counter[str] = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if not func.is_view and func.namespace != "profiler":
            self.counts[str(func)] += 1
        return func(*args, **(kwargs or {}))

    @property
    def launches(self) -> int:
        return sum(n for name, n in self.counts.items() if name != HOST_READS)

    @property
    def host_reads(self) -> int:
        return self.counts[HOST_READS]


def count(action) -> DispatchedOps:
    with DispatchedOps() as ops:
        action()
    return ops


def spec_of(case: str, batch: int):
    from search.space.validation import load_spec

    space, small = CASES[case]
    return load_spec(REPO / space, [*small, f"train.batch_size={batch}", "train.patience=null"])


def splits_of(spec):
    from search.data import get_task

    task = get_task(spec.task)
    options = task.Options(**spec.data)
    return task, task.splits(task.load(options, smoke=True), options)


def trial_of(case: str, batch: int):
    from search.trial.training import Trial, build_optimizer

    spec = spec_of(case, batch)
    trial = Trial(*splits_of(spec), spec.base_config())
    # Only train_one_epoch runs here, which never steps the schedule (it keeps the first optimizer).
    trial.state.optimizer = build_optimizer(trial.state.model.parameters(), trial.train_settings, GPU)
    return trial


def next_epoch(trial) -> None:
    trial.state.epoch += 1
    trial.train_one_epoch()


def trial_figures(case: str) -> dict:
    """The Trial's ops per step, the step's own (train_batch) and what the loop adds."""
    epochs, steps = [], []
    for batch in BATCHES:
        trial = trial_of(case, batch)
        next_epoch(trial)  # first use: the optimizer's state, constants made once per device
        epochs.append(count(functools.partial(next_epoch, trial)))
        steps.append(-(-len(trial.splits.train[1]) // batch))
    per_step = (epochs[0].launches - epochs[1].launches) / (steps[0] - steps[1])
    index = trial.epoch_order()[:BATCHES[1]]
    step = count(lambda: trial.train_batch(index))
    return {"trial_step": per_step, "trial_train_batch": step.launches,
            "trial_loop_additions_per_step": per_step - step.launches,
            "trial_per_epoch": epochs[1].launches - per_step * steps[1],
            "trial_host_reads_per_step": step.host_reads}


def bare_figures(case: str, fused: bool) -> dict:
    """One step of bench/gpu.py's bare loop, with Adam as PyTorch builds it on a GPU
    (foreach) or fused."""
    from search.models import create_model

    spec = spec_of(case, BATCHES[0])
    _, splits = splits_of(spec)
    torch.manual_seed(0)
    options = dict(spec.model)
    model = create_model(options.pop("name"), options, splits.model_inputs).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=spec.train.lr, foreach=not fused, fused=fused)
    x_all, y_all = splits.train
    index = torch.arange(BATCHES[0])

    def step() -> None:
        bare_step(model, optimizer, x_all, y_all, index, splits.batch_transform, bf16=False)

    step()  # first use
    ops = count(step)
    return {"step": ops.launches, "host_reads_per_step": ops.host_reads}


def measure() -> dict:
    figures = {}
    for case in CASES:
        figures[case] = trial_figures(case)
        if case in IMAGE_CASES:
            bare, fused = bare_figures(case, fused=False), bare_figures(case, fused=True)
            figures[case].update(bare_step=bare["step"], bare_host_reads_per_step=bare["host_reads_per_step"],
                                 bare_fused_step=fused["step"],
                                 trial_vs_bare_ops=round(figures[case]["trial_step"] / bare["step"], 3))
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true", help="write the figures into bench/results.json")
    args = parser.parse_args()
    figures = measure()
    print(f"{'':<24}{'Trial step':>12}{'loop adds':>11}{'bare step':>11}{'bare fused':>12}{'host reads':>12}")
    for case, f in figures.items():
        print(f"{case:<24}{f['trial_step']:>12g}{f['trial_loop_additions_per_step']:>11g}"
              f"{f.get('bare_step', '-'):>11}{f.get('bare_fused_step', '-'):>12}"
              f"{f['trial_host_reads_per_step']:>7} / {f.get('bare_host_reads_per_step', '-')}")
    if args.record:
        record("step_ops", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
