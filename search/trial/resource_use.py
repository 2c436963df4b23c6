"""What a trial used, measured in its own worker and reported with each epoch's result.

Per epoch: the trial process's CPU use (percent of one core, over the epoch; above 100
with several threads) and resident memory, by psutil; on a GPU, NVML's readings for the
trial's own process (its SM utilisation and the memory the driver gives it), so trials
sharing one GPU are told apart. Cumulative: CPU seconds, and GPU seconds weighted by the
trial's GPU share (a quarter GPU for an hour is a quarter GPU-hour). A trial continued
from a checkpoint carries the totals it had on, so they cover the whole trial.
"""

from __future__ import annotations

import os
import time
from typing import Any

import psutil

from search import record

MB = 2**20


class GpuProcessReader:
    """NVML readings of one process on one GPU (nvidia-ml-py).

    NVML names processes by their PID as the host sees it; inside a container with its own
    PID namespace the trial's PID is not among them, and the readings are left out rather
    than replaced by the whole device's (which would charge every sharing trial with all).
    """

    def __init__(self, device_uuid: str, pid: int):
        import pynvml

        self.nvml, self.pid = pynvml, pid
        pynvml.nvmlInit()
        self.handle = pynvml.nvmlDeviceGetHandleByUUID(device_uuid)
        self.since_us = int(time.time() * 1e6)

    def read(self) -> dict[str, float]:
        readings: dict[str, float] = {}
        nvml = self.nvml
        processes = []
        for lister in (nvml.nvmlDeviceGetComputeRunningProcesses, nvml.nvmlDeviceGetMPSComputeRunningProcesses):
            try:
                processes.extend(lister(self.handle))
            except nvml.NVMLError:
                pass  # MPS listing where MPS is off, or an older driver
        used = [p.usedGpuMemory for p in processes if p.pid == self.pid and p.usedGpuMemory is not None]
        if used:
            readings[record.TRIAL_GPU_MEMORY_MB] = max(used) / MB
        try:
            samples = nvml.nvmlDeviceGetProcessUtilization(self.handle, self.since_us)
        except nvml.NVMLError:  # no sample since the last reading (NVML_ERROR_NOT_FOUND)
            samples = []
        mine = [s.smUtil for s in samples if s.pid == self.pid]
        if mine:
            readings[record.TRIAL_GPU_UTIL] = sum(mine) / len(mine)
        self.since_us = int(time.time() * 1e6)
        return readings

    def close(self) -> None:
        self.nvml.nvmlShutdown()


def cuda_device_uuid() -> str | None:
    """The NVML UUID of the GPU torch uses as cuda:0 (Ray's CUDA_VISIBLE_DEVICES picks it), or None."""
    import torch

    if not torch.cuda.is_available():
        return None
    return f"GPU-{torch.cuda.get_device_properties(0).uuid}"


class TrialMeter:
    """Readings of the trial's process, one set per epoch; `earlier` is the last result of a
    checkpoint the trial continues from, whose totals it carries on."""

    def __init__(self, gpu_share: float = 0.0, on_gpu: bool = False, earlier: dict[str, Any] | None = None):
        self.process = psutil.Process(os.getpid())
        self.gpu_share = gpu_share
        earlier = earlier or {}
        self.cpu_seconds = float(earlier.get(record.TRIAL_CPU_SECONDS, 0.0))
        self.gpu_seconds = float(earlier.get(record.TRIAL_GPU_SECONDS, 0.0))
        self.cpu_mark = self._cpu_time()
        self.wall_mark = time.perf_counter()
        self.gpu = None
        if on_gpu and gpu_share > 0:
            uuid = cuda_device_uuid()
            if uuid is not None:
                self.gpu = GpuProcessReader(uuid, os.getpid())

    def _cpu_time(self) -> float:
        times = self.process.cpu_times()
        return times.user + times.system

    def epoch_readings(self) -> dict[str, float]:
        """Since the last call (or the start): the epoch's CPU use and the totals so far."""
        cpu, wall = self._cpu_time(), time.perf_counter()
        cpu_delta, wall_delta = cpu - self.cpu_mark, wall - self.wall_mark
        self.cpu_mark, self.wall_mark = cpu, wall
        self.cpu_seconds += cpu_delta
        readings = {
            record.TRIAL_CPU_PERCENT: 100.0 * cpu_delta / wall_delta if wall_delta > 0 else 0.0,
            record.TRIAL_RSS_MB: self.process.memory_info().rss / MB,
            record.TRIAL_CPU_SECONDS: self.cpu_seconds,
        }
        if self.gpu is not None:
            self.gpu_seconds += wall_delta * self.gpu_share
            readings.update(self.gpu.read())
        if self.gpu_seconds:
            readings[record.TRIAL_GPU_SECONDS] = self.gpu_seconds
        return readings

    def close(self) -> None:
        if self.gpu is not None:
            self.gpu.close()


def search_hours(totals: list[dict[str, Any]]) -> dict[str, float]:
    """search_cpu_hours and search_gpu_hours over runs' last results (trials, re-evaluations, refit)."""
    cpu = sum(float(t.get(record.TRIAL_CPU_SECONDS) or 0.0) for t in totals)
    gpu = sum(float(t.get(record.TRIAL_GPU_SECONDS) or 0.0) for t in totals)
    return {record.SEARCH_CPU_HOURS: cpu / 3600, record.SEARCH_GPU_HOURS: gpu / 3600}
