"""What a trial costs, measured in its own worker while it runs, never estimated from its config.

- `params`: the network's trainable parameters, counted once the model is built.
- `latency_ms`: forward time per example in eval mode, the median over a few validation
  batches of the trial's batch size (one untimed batch first: the first call allocates).
- `epoch_seconds`: the median of the trial's epochs so far (`epoch_time_s`: training and
  its validation pass), so one slow first epoch does not speak for the rest.
- `peak_memory_mb`: the trial's peak memory since it started: on a GPU PyTorch's peak
  allocation (`torch.cuda.max_memory_allocated`), on the CPU the process's peak resident
  memory.

Trials share worker processes (TuneConfig(reuse_actors=True)), so a process-lifetime peak
(ru_maxrss) would carry the previous trial's peak into the next. Each trial resets it when
it starts: on Linux the kernel's own high-water mark (VmHWM), which writing "5" to
/proc/self/clear_refs resets and which then counts every page exactly; where that file
cannot be written, a psutil thread samples the resident memory every 20 ms (it can miss a
peak shorter than that).
"""

from __future__ import annotations

import math
import os
import re
import statistics
import threading
import time
from typing import Any

import torch
from torch import nn

from search.record import EPOCH_SECONDS, EPOCH_TIME, LATENCY_MS, PARAMS, PEAK_MEMORY_MB

LATENCY_BATCHES = 5  # timed validation batches; their median is the latency
MIB = 2 ** 20
CLEAR_REFS, STATUS = "/proc/self/clear_refs", "/proc/self/status"
SAMPLE_EVERY_S = 0.02


def trainable_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def forward_latency_ms(trial, batches: int = LATENCY_BATCHES) -> float:
    """Milliseconds per example of the trial's model in eval mode, on validation batches of
    its batch size: the median of `batches` timed forward passes, after one untimed one."""
    from search.trial.training import autocast

    model = trial.state.model
    x_all = trial.data["val"][0]
    size = max(1, min(trial.train_settings.batch_size, len(x_all)))
    starts = [(i * size) % max(1, len(x_all) - size + 1) for i in range(batches + 1)]
    was_training = model.training
    model.eval()
    times = []
    try:
        with torch.inference_mode():
            for i, start in enumerate(starts):
                x = trial._inputs(x_all[start:start + size])  # on the device before the clock starts
                synchronize(trial.device)
                started = time.perf_counter()
                with autocast(trial.train_settings, trial.device):
                    model(x)
                synchronize(trial.device)
                if i:
                    times.append((time.perf_counter() - started) * 1000 / len(x))
    finally:
        model.train(was_training)
    return statistics.median(times)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_epoch_seconds(results: list[dict[str, Any]]) -> float:
    """The median `epoch_time_s` of the epochs so far (NaN before the first)."""
    times = [row[EPOCH_TIME] for row in results if EPOCH_TIME in row]
    return statistics.median(times) if times else math.nan


class PeakMemory:
    """The peak memory of the trial since this was made (see the module's docstring)."""

    def __init__(self, device: torch.device):
        self.device = device
        self._sampler: _ResidentSampler | None = None
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        elif not _reset_kernel_peak():
            self._sampler = _ResidentSampler()

    def peak_mb(self) -> float:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / MIB
        if self._sampler is not None:
            return self._sampler.peak / MIB
        return _kernel_peak_bytes() / MIB

    def close(self) -> None:
        if self._sampler is not None:
            self._sampler.stop()


def _reset_kernel_peak() -> bool:
    """Resets the process's resident high-water mark (Linux 4.0+); False where it cannot."""
    try:
        with open(CLEAR_REFS, "w") as handle:
            handle.write("5")
        return _kernel_peak_bytes() > 0
    except OSError:
        return False


def _kernel_peak_bytes() -> int:
    with open(STATUS) as handle:
        found = re.search(r"^VmHWM:\s+(\d+)\s+kB", handle.read(), re.MULTILINE)
    return int(found.group(1)) * 1024 if found else 0


class _ResidentSampler:
    """The highest resident memory psutil saw, sampled on a thread of its own."""

    def __init__(self):
        import psutil

        self._process = psutil.Process(os.getpid())
        self.peak = self._process.memory_info().rss
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="peak-memory", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stopped.wait(SAMPLE_EVERY_S):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


class TrialCosts:
    """A trial's costs as result keys: `before_training()` once, `after_epoch()` each epoch.

    `earlier`: the costs the trial's own checkpoint last reported, when it continues from
    one (a retry, a resume, a pause): its latency is not timed again, and its peak memory
    is the larger of the earlier one and this process's.
    """

    def __init__(self, trial, memory: PeakMemory, earlier: dict[str, Any] | None = None):
        self.trial, self.memory = trial, memory
        earlier = earlier or {}
        self.params = trainable_parameters(trial.state.model)
        latency = earlier.get(LATENCY_MS)
        self.latency_ms = latency if isinstance(latency, float) else forward_latency_ms(trial)
        self.earlier_peak_mb = float(earlier.get(PEAK_MEMORY_MB) or 0.0)

    def before_training(self) -> dict[str, float]:
        return {PARAMS: self.params, LATENCY_MS: self.latency_ms}

    def after_epoch(self) -> dict[str, float]:
        return {**self.before_training(),
                EPOCH_SECONDS: median_epoch_seconds(self.trial.state.results),
                PEAK_MEMORY_MB: max(self.earlier_peak_mb, self.memory.peak_mb())}
